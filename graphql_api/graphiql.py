"""GraphiQL served from this app's own files: no CDN, so it works offline and in a bank's network.

Strawberry's built-in page loads React and GraphiQL from a public CDN. Ours is bundled at build
time (``web/graphiql``: pinned npm packages, ``npm ci`` + esbuild, run by ``make install``) into
``graphql_api/static/graphiql/`` and served under ``ASSETS_PATH``. The page carries a strict
Content-Security-Policy: scripts, styles and connections from this origin only (fonts and icons
are data: URLs inside the CSS), nothing inline, no framing. Subresource Integrity hashes pin the
page to the exact bundle it was rendered for.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from dataclasses import dataclass
from html import escape
from pathlib import Path

from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

log = logging.getLogger("loan_offers.graphiql")

ASSETS_DIR = Path(__file__).parent / "static" / "graphiql"
ASSETS_PATH = "/static/graphiql"
SCRIPT, STYLESHEET = "graphiql.js", "graphiql.css"
BUILD_COMMAND = "make install  (runs: cd web/graphiql && npm ci && node build.mjs)"

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self' data:",
    "connect-src 'self'",  # HTTP and ws(s) to this origin: queries and subscriptions
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
))
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class _Asset:
    url: str
    integrity: str


def _asset(directory: Path, name: str) -> _Asset:
    digest = hashlib.sha384((directory / name).read_bytes()).digest()
    # The digest in the query string busts browser caches when the bundle changes.
    version = hashlib.sha256(digest).hexdigest()[:16]
    return _Asset(f"{ASSETS_PATH}/{name}?v={version}",
                  "sha384-" + base64.b64encode(digest).decode("ascii"))


def _page(script: _Asset, stylesheet: _Asset) -> str:
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Loan offers · GraphiQL</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{escape(stylesheet.url)}" integrity="{stylesheet.integrity}">
</head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
<script src="{escape(script.url)}" integrity="{script.integrity}" defer></script>
</body>
</html>
"""


class GraphiQLPage:
    """The page and its static files. The page is built (hashing the bundle) on first request, so
    a server started before ``make graphiql`` finished serves it once the files are there."""

    def __init__(self, directory: Path = ASSETS_DIR) -> None:
        self.directory = directory
        self._html: str | None = None
        if missing := self._missing():
            log.warning("GraphiQL is enabled but its assets are not built (%s missing in %s); "
                        "build them with: %s", ", ".join(missing), directory, BUILD_COMMAND)

    def _missing(self) -> list[str]:
        return [name for name in (SCRIPT, STYLESHEET) if not (self.directory / name).is_file()]

    def response(self) -> Response:
        if self._html is None:
            if self._missing():
                return PlainTextResponse(
                    f"GraphiQL assets are not built. Build them with: {BUILD_COMMAND}\n",
                    status_code=503, headers=PAGE_HEADERS)
            self._html = _page(_asset(self.directory, SCRIPT), _asset(self.directory, STYLESHEET))
        return HTMLResponse(self._html, headers=PAGE_HEADERS)

    def route(self) -> Mount:
        return Mount(ASSETS_PATH, app=StaticFiles(directory=self.directory, check_dir=False),
                     name="graphiql-assets")
