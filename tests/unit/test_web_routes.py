"""The web app and the API share one origin (the CDN routes the API's paths to API Gateway, the
rest to the app's bucket; the local runner does the same): no page may sit under a path whose
first segment the API owns, or the CDN would send it to API Gateway."""

from __future__ import annotations

from functions.registry import REPO_ROOT, discover

APP_DIR = REPO_ROOT / "web" / "src" / "app"


def page_paths() -> list[str]:
    return sorted(
        "/" + "/".join(page.parent.relative_to(APP_DIR).parts) for page in APP_DIR.rglob("page.tsx")
    )


def test_the_app_has_the_pages_the_product_needs():
    assert {
        "/",
        "/login",
        "/signup",
        "/forgot-password",
        "/reset-password",
        "/app/documents",
        "/app/search",
        "/app/notifications",
        "/app/account",
        "/app/admin/users",
    } <= set(page_paths())


def test_no_page_shares_a_first_path_segment_with_the_api():
    api_segments = {route.path.split("/")[1] for _, route in discover().routes}
    clashes = [p for p in page_paths() if p != "/" and p.split("/")[1] in api_segments]
    assert clashes == [], f"pages under the API's paths: {clashes}"


def test_the_emails_link_to_pages_that_exist():
    from shared.notifications.templates import _LINKS

    pages = set(page_paths())
    for kind, (path, _) in _LINKS.items():
        assert path.split("#")[0].split("?")[0] in pages, kind
