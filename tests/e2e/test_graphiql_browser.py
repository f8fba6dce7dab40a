"""GraphiQL in a real headless Chromium against a real uvicorn process, network closed but loopback.

Every request the page makes (HTTP and WebSocket) goes through route interception: to 127.0.0.1 it
passes, anything else is recorded and aborted, and the test asserts nothing was. The query is
typed into the editor and run with the run button, like a person would.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e.live_server import LiveServer, live_server
from tests.servers import unavailable

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
LOOPBACK = "127.0.0.1"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Alias and selection no default query has: the answer can only come from what was typed.
TYPED_QUERY = ('query TypedInBrowser { typedInBrowser: loanOffers(request: {userId: "user-000042"}) '
               '{ userId decision offers { rank offerId roi emi } } }')


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, graphiql_assets: None) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("graphiql"), profile="dev") as running:
        yield running


@pytest.fixture
async def browser(graphiql_assets: None) -> AsyncIterator[object]:
    if shutil.which(CHROMIUM) is None:
        unavailable(f"{CHROMIUM} is not installed (apt-get install chromium; .ci/run does)")
    # Imported here, after `graphiql_assets` ran `make install` (which installs playwright).
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                   args=["--no-sandbox"])
        try:
            yield browser
        finally:
            await browser.close()


class Network:
    """Lets loopback through; records and aborts every other request (HTTP or WebSocket)."""

    def __init__(self) -> None:
        self.allowed: list[str] = []
        self.blocked: list[str] = []

    def is_loopback(self, url: str) -> bool:
        return urlsplit(url).hostname == LOOPBACK

    async def on_request(self, route) -> None:
        url = route.request.url
        if self.is_loopback(url):
            self.allowed.append(url)
            await route.continue_()
        else:
            self.blocked.append(url)
            await route.abort("blockedbyclient")

    async def on_websocket(self, ws) -> None:
        if self.is_loopback(ws.url):
            self.allowed.append(ws.url)
            ws.connect_to_server()
        else:
            self.blocked.append(ws.url)
            await ws.close()


async def open_graphiql(browser, server: LiveServer):
    context = await browser.new_context(viewport={"width": 1400, "height": 900})
    network = Network()
    await context.route("**/*", network.on_request)
    await context.route_web_socket("**/*", network.on_websocket)
    page = await context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    response = await page.goto(server.graphql_url)
    assert response is not None and response.status == 200
    await page.locator(".graphiql-query-editor .CodeMirror").wait_for(timeout=30_000)
    return context, page, network, problems


async def editor_text(page, selector: str) -> str:
    return await page.evaluate(f"document.querySelector('{selector} .CodeMirror').CodeMirror.getValue()")


async def test_graphiql_runs_a_typed_loan_offers_query_without_leaving_the_machine(
        browser, server: LiveServer, tmp_path: Path) -> None:
    context, page, network, problems = await open_graphiql(browser, server)
    try:
        assert "default-src 'none'" in (await page.evaluate(
            "fetch(location.href).then(r => r.headers.get('content-security-policy'))"))

        await page.locator(".graphiql-query-editor .CodeMirror").click()
        await page.keyboard.press("Control+A")
        await page.keyboard.press("Delete")
        await page.keyboard.type(TYPED_QUERY)
        assert await editor_text(page, ".graphiql-query-editor") == TYPED_QUERY
        # GraphiQL reads the operation name after a pause in typing (the tab takes its name):
        # run before that and it would send the previous document's name.
        await page.locator(".graphiql-tab-active").get_by_text("TypedInBrowser").wait_for()

        await page.locator("button.graphiql-execute-button").click()
        # A function, not an expression string: the page's CSP forbids eval, Playwright's too.
        await page.wait_for_function(
            "() => document.querySelector('.graphiql-response .CodeMirror').CodeMirror.getValue()"
            ".includes('typedInBrowser')", timeout=30_000)
        answer = json.loads(await editor_text(page, ".graphiql-response"))

        screenshot = tmp_path / "graphiql-loan-offers.png"
        await page.screenshot(path=str(screenshot), full_page=True)
    finally:
        await context.close()

    assert "errors" not in answer, answer
    result = answer["data"]["typedInBrowser"]
    assert result["userId"] == "user-000042" and result["decision"] == "APPROVED"
    assert [offer["rank"] for offer in result["offers"]] == list(range(1, len(result["offers"]) + 1))
    assert len(result["offers"]) >= 1 and all(offer["roi"] > 0 for offer in result["offers"])

    assert network.blocked == [], f"requests that tried to leave the machine: {network.blocked}"
    assert any(url.startswith(f"{server.base_url}/static/graphiql/graphiql.js") for url in network.allowed)
    assert problems == [], f"console errors/warnings (CSP violations show here): {problems}"

    data = screenshot.read_bytes()
    assert len(data) > 10_000 and data.startswith(PNG_SIGNATURE), "screenshot is not a PNG"


async def test_the_explorer_plugin_is_there(browser, server: LiveServer) -> None:
    context, page, network, problems = await open_graphiql(browser, server)
    try:
        await page.get_by_role("button", name="Show GraphiQL Explorer").click()
        # The explorer reads the schema by introspection and lists the root fields.
        await page.locator(".graphiql-explorer-root").get_by_text("loanOffers").first.wait_for(
            timeout=30_000)
    finally:
        await context.close()
    assert network.blocked == []
    assert problems == []


SUBSCRIPTION = ('subscription Updates { offerUpdates(userId: "user-000007") '
                '{ type userId offer { offerId } } }')
TRIGGER = '{ loanOffers(request: {userId: "user-000007"}) { offers { offerId } } }'


async def test_a_subscription_from_the_page_receives_offer_updates(
        browser, server: LiveServer) -> None:
    context, page, network, problems = await open_graphiql(browser, server)
    try:
        await page.locator(".graphiql-query-editor .CodeMirror").click()
        await page.keyboard.press("Control+A")
        await page.keyboard.press("Delete")
        await page.keyboard.type(SUBSCRIPTION)
        # Run at once, as a quick typist does: before GraphiQL's debounced parse of the text has
        # caught up (it once sent the subscription as a POST then; the page now parses the text
        # it sends, web/graphiql/src/main.jsx).
        await page.keyboard.press("Control+Enter")
        # The subscription starts once the WebSocket is up; an offer generated before that is
        # not replayed, so generate (bounded) until the page shows one.
        received = ""
        async with httpx.AsyncClient(base_url=server.base_url, trust_env=False) as client:
            deadline = time.monotonic() + 30
            while ("GENERATED" not in received and '"errors"' not in received
                   and time.monotonic() < deadline):
                generated = await client.post("/graphql", json={"query": TRIGGER})
                assert generated.status_code == 200 and "errors" not in generated.json()
                await page.wait_for_timeout(500)
                received = await editor_text(page, ".graphiql-response")
    finally:
        await context.close()
    assert "GENERATED" in received, f"no update in 30 s; the page shows: {received!r}"
    update = json.loads(received)["data"]["offerUpdates"]
    assert update["type"] == "GENERATED" and update["userId"] == "user-000007"
    assert update["offer"]["offerId"]
    websockets = [url for url in network.allowed if url.startswith("ws")]
    assert websockets == [server.graphql_url.replace("http://", "ws://")], network.allowed
    assert network.blocked == []
    assert problems == [], problems
