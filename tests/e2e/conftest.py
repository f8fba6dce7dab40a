"""The real ASGI app over a fresh, migrated, seeded SQLite database, driven by httpx."""

from __future__ import annotations

import asyncio
import importlib
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from adapters.demo.portfolio import generate_applicants
from adapters.sql.migrate import upgrade_to_head
from config.asgi import create_app
from config.container import build_container
from config.settings import Settings
from tests.pii import pii_settings
from tests.tokens import IdentityProvider

SEEDED = 300
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def graphiql_assets() -> None:
    """The GraphiQL bundle (npm ci + esbuild) and the browser driver (playwright, a dev extra),
    brought up to date by `make install` as `make test` does, so a bare `pytest` in a worktree
    made before they existed or changed gets them too. A no-op when nothing changed."""
    if shutil.which("npm") is None or shutil.which("make") is None:
        pytest.fail("GraphiQL needs node/npm and make to build its assets (.ci/run installs them)")
    build = subprocess.run(["make", "-s", "install"], cwd=ROOT, capture_output=True, text=True,
                           timeout=600)
    assert build.returncode == 0, f"make install failed:\n{build.stdout}\n{build.stderr}"
    importlib.invalidate_caches()  # packages pip just added become importable


@pytest.fixture(scope="session")
async def app_env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict]:
    db = Path(tmp_path_factory.mktemp("e2e")) / "e2e.db"
    settings = Settings(database_url=f"sqlite+aiosqlite:///{db}", profile="dev")
    await asyncio.to_thread(upgrade_to_head, settings.database_url)
    container = build_container(settings)
    await container.bootstrap_policy().execute(settings.policy_file.read_text())
    await container.seed_applicants().execute(generate_applicants(SEEDED))
    app = create_app(container=container)
    yield {"app": app, "container": container, "settings": settings}
    await container.engine().dispose()


async def start_prod_app(database_url: str, identity: IdentityProvider, **overrides: object) -> dict:
    """The prod profile (tokens required, no GraphiQL or introspection) over ``database_url``
    (an empty SQLite file or PostgreSQL database), migrated and seeded; ``identity`` mints the
    tokens it accepts. The caller disposes of ``env["container"].engine()``."""
    settings = Settings(database_url=database_url, profile="prod",
                        **identity.settings_overrides(), **pii_settings(), **overrides)
    container = build_container(settings)
    await asyncio.to_thread(upgrade_to_head, settings.database_url, container.pii())
    await container.bootstrap_policy().execute(settings.policy_file.read_text())
    await container.seed_applicants().execute(generate_applicants(SEEDED))
    app = create_app(container=container)
    return {"app": app, "container": container, "settings": settings, "identity": identity}


@pytest.fixture(scope="session")
async def prod_app_env(tmp_path_factory: pytest.TempPathFactory,
                       identity_provider: IdentityProvider) -> AsyncIterator[dict]:
    """The prod profile over its own seeded SQLite database (its tests publish policies and run
    experiments: nothing leaks into ``app_env``)."""
    db = Path(tmp_path_factory.mktemp("e2e-prod")) / "prod.db"
    env = await start_prod_app(f"sqlite+aiosqlite:///{db}", identity_provider,
                               # generous: the matrix makes hundreds of calls as one staff user
                               rate_limit_operations="100000/minute",
                               rate_limit_mutations="10000/minute")
    yield env
    await env["container"].engine().dispose()


@pytest.fixture(scope="session")
async def prod_client(prod_app_env: dict) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the prod-profile app; send ``headers=identity_provider.headers(sub, role)``."""
    transport = httpx.ASGITransport(app=prod_app_env["app"])
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
        yield c


@pytest.fixture(scope="session")
async def client(app_env: dict) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app_env["app"])
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def gql(client: httpx.AsyncClient, query: str, **variables: object) -> dict:
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    return response.json()
