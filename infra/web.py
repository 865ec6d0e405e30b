"""The web app's delivery rules, as plain data (no CDK import): the CDK app's CloudFront
distribution (``infra/components/site.py``) and the local runner (``local/site.py``) both apply
them, so the browser suite runs the app under the same Content-Security-Policy as production.
"""

from __future__ import annotations

from collections.abc import Iterable

from infra.config import REPO_ROOT

#: The exported app (``make web-build``); the CDK app deploys it from here.
SITE_DIR = REPO_ROOT / "web" / "out"
#: Next.js names these files by their content hash: cached for a year, never revalidated.
HASHED_ASSETS = "_next/static"
IMMUTABLE = "public, max-age=31536000, immutable"
#: Everything else (the pages): revalidated on every visit, so a deploy shows at once.
REVALIDATE = "no-cache"


def content_security_policy(connect: Iterable[str] = ()) -> str:
    """The page may load only its own files; it may call its own origin (the API) and
    ``connect`` (the uploads bucket, for the presigned POST). Next.js inlines its bootstrap
    scripts and styles in the exported HTML, hence 'unsafe-inline' for those two."""
    sources = " ".join(["'self'", *connect])
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self' 'unsafe-inline'",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "font-src 'self'",
            f"connect-src {sources}",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


#: The other security headers of every response (the CDN's response headers policy).
SECURITY_HEADERS: dict[str, str] = {
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}
