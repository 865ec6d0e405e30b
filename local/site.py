"""Static files on the runner's own origin: the exported web app, and Swagger UI's assets.

Deployed, CloudFront serves the web app (``web/out``) from S3 and sends the API's paths to API
Gateway on the same distribution (``infra/components/site.py``). The runner does the same on
loopback: a GET that no declared route matches, outside the API's first path segments, is a
file of the site. ``/login`` is ``login.html`` (Next.js exports one file per page), a folder is
its ``index.html``; anything else is the site's ``404.html`` with a 404, never a file outside
the folder.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

from infra.web import HASHED_ASSETS, IMMUTABLE, REVALIDATE
from local.gateway import Reply

IMMUTABLE_PREFIX = f"/{HASHED_ASSETS}/"


class StaticSite:
    """The files under ``root``, served below ``prefix``."""

    def __init__(
        self,
        root: Path,
        *,
        prefix: str = "/",
        not_found: str | None = "404.html",
        headers: dict[str, str] | None = None,
    ):
        self.root = root.resolve()
        self.prefix = prefix
        self.not_found = not_found
        self.headers = headers or {}  # what the CDN adds (security headers), as it adds them

    def file_for(self, path: str) -> Path | None:
        """The file serving URL ``path``, or None."""
        if not path.startswith(self.prefix):
            return None
        relative = PurePosixPath(unquote(path[len(self.prefix) :]))
        if any(part in ("..", "") for part in relative.parts) or relative.is_absolute():
            return None
        candidate = self.root.joinpath(*relative.parts)
        names = [candidate]
        if not relative.suffix:
            names += [candidate.with_name(candidate.name + ".html"), candidate / "index.html"]
        for name in names:
            resolved = name.resolve()
            if resolved.is_file() and resolved.is_relative_to(self.root):
                return resolved
        return None

    def reply(self, path: str) -> Reply | None:
        """The file for ``path``; the 404 page (with a 404) when there is none; None when
        ``path`` is not this site's at all."""
        if not path.startswith(self.prefix):
            return None
        found = self.file_for(path)
        status = 200
        if found is None:
            if self.not_found is None or not (self.root / self.not_found).is_file():
                return None
            found, status = self.root / self.not_found, 404
        media = mimetypes.guess_type(found.name)[0] or "application/octet-stream"
        if media.startswith("text/") or media in ("application/javascript", "image/svg+xml"):
            media += "; charset=utf-8"
        cache = IMMUTABLE if path.startswith(IMMUTABLE_PREFIX) else REVALIDATE
        headers = [("Content-Type", media), ("Cache-Control", cache), *self.headers.items()]
        return Reply(status, headers, found.read_bytes())
