"""The GraphiQL page in-process: served from this app's files, under a strict CSP, pinned by SRI."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import httpx
import pytest

from graphql_api.graphiql import ASSETS_DIR, ASSETS_PATH, CONTENT_SECURITY_POLICY, GraphiQLPage

HTML = {"accept": "text/html"}
pytestmark = pytest.mark.usefixtures("graphiql_assets")


async def test_the_page_loads_only_this_apps_files(client: httpx.AsyncClient) -> None:
    page = await client.get("/graphql", headers=HTML)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert page.headers["x-content-type-options"] == "nosniff"
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith(f"{ASSETS_PATH}/") or s == "data:," for s in sources)
    assert "<style" not in page.text and "<script>" not in page.text  # nothing inline


async def test_integrity_hashes_match_the_served_bundle(client: httpx.AsyncClient) -> None:
    page = (await client.get("/graphql", headers=HTML)).text
    tags = re.findall(r'(?:src|href)="([^"]+)" integrity="sha384-([^"]+)"', page)
    assert {url.split("?")[0].rsplit("/", 1)[1] for url, _ in tags} == {"graphiql.js",
                                                                        "graphiql.css"}
    for url, integrity in tags:
        asset = await client.get(url)
        assert asset.status_code == 200 and len(asset.content) > 10_000
        assert base64.b64encode(hashlib.sha384(asset.content).digest()).decode() == integrity


def test_the_bundle_carries_graphiql_its_explorer_and_the_websocket_client() -> None:
    bundle = (ASSETS_DIR / "graphiql.js").read_text(encoding="utf-8")
    for marker in ("GraphiQL Explorer", "graphql-transport-ws", "graphiql-execute-button"):
        assert marker in bundle, marker
    assert "unpkg.com" not in bundle and "jsdelivr" not in bundle


def test_without_a_build_the_page_says_how_to_build_it(tmp_path: Path) -> None:
    response = GraphiQLPage(tmp_path).response()
    assert response.status_code == 503
    assert b"make install" in response.body and b"npm ci" in response.body
