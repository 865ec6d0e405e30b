"""The runner serves the web app and the API on one origin, as the CDN does in AWS: every GET
outside the API's paths is a file of the exported app; /docs works without the internet."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from functions.registry import discover
from local.runner import LocalRunner, RunnerConfig
from tests.e2e.conftest import start_runner
from tests.support.services import server_folder

pytestmark = pytest.mark.e2e

PAGES = {
    "index.html": "<h1>home</h1>",
    "login.html": "<h1>login page</h1>",
    "404.html": "<h1>no such page</h1>",
    "app/documents.html": "<h1>documents page</h1>",
    "_next/static/chunks/app-0123abcd.js": "console.log('hashed')",
}


@pytest.fixture(scope="module")
def site_runner(tmp_path_factory) -> Iterator[LocalRunner]:
    site = tmp_path_factory.mktemp("out")
    for name, text in PAGES.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text(text)
    (site.parent / "secret.txt").write_text("outside the site")
    config = RunnerConfig(port=0, state_dir=server_folder("stratus-web-origin-"), web_dir=site)
    runner = start_runner(discover(), config)
    yield runner
    runner.stop()


@pytest.fixture
def web(site_runner) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site_runner.url, timeout=10) as client:
        yield client


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("/", "home"),
        ("/login", "login page"),
        ("/login.html", "login page"),
        ("/app/documents", "documents page"),
    ],
)
def test_the_apps_pages_are_served_on_the_runners_origin(web, path, text):
    response = web.get(path)
    assert response.status_code == 200
    assert text in response.text
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"


def test_hashed_assets_are_cached_for_good(web):
    response = web.get("/_next/static/chunks/app-0123abcd.js")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.headers["content-type"].startswith("text/javascript")


@pytest.mark.parametrize(
    "path", ["/nope", "/app/nothing", "/..%2Fsecret.txt", "/%2e%2e/secret.txt"]
)
def test_an_unknown_page_is_the_apps_404_page_and_nothing_outside_the_site(web, path):
    response = web.get(path)
    assert response.status_code == 404
    assert "no such page" in response.text
    assert "outside the site" not in response.text


def test_the_apis_paths_stay_the_apis(web):
    # GET /documents is the API's route, not a page: without a token the gateway's 401 problem
    response = web.get("/documents")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    # and an unknown path under an API segment is the gateway's 404 problem, not the 404 page
    unknown = web.get("/documents/x/y/z")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    assert web.get("/health").json()["status"] == "ok"


def test_docs_loads_swagger_ui_from_the_runner_not_a_cdn(web):
    page = web.get("/docs")
    assert page.status_code == 200
    assert "cdn." not in page.text
    assert "/docs/assets/swagger-ui-bundle.js" in page.text
    script = web.get("/docs/assets/swagger-ui-bundle.js")
    assert script.status_code == 200
    assert "SwaggerUIBundle" in script.text
    assert web.get("/docs/assets/swagger-ui.css").headers["content-type"].startswith("text/css")


def test_health_reports_the_version_the_openapi_document_declares(web):
    assert (
        web.get("/health").json()["version"] == web.get("/openapi.json").json()["info"]["version"]
    )


def test_emails_link_to_the_runners_origin(site_runner):
    import os

    assert os.environ["APP_URL"] == site_runner.url
