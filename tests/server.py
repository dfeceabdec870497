"""A real uvicorn server in a background thread, for tests that need a socket (gql, requests).

Use the fixture:  `from tests.server import live_server  # noqa: F401`, then take
`live_server` (the base URL, e.g. http://127.0.0.1:54321) as a test argument. Or, outside
pytest fixtures, `with running_server(settings) as url: ...`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
import uvicorn

from simulator.app import create_app
from simulator.settings import Settings
from tests.conftest import CLIENT, make_settings

START_TIMEOUT = 30.0


@contextmanager
def running_server(settings: Settings) -> Iterator[str]:
    """Serve create_app(settings) on a free loopback port; yields the base URL."""
    app = create_app(settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="live-server", daemon=True)
    thread.start()
    try:
        url = _wait_until_ready(server, thread)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        app.platform.store.close()


def _wait_until_ready(server: uvicorn.Server, thread: threading.Thread) -> str:
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    while True:
        try:
            if requests.get(f"{url}/health", timeout=2).status_code == 200:
                return url
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the live server does not answer /health")
        time.sleep(0.01)


def server_token(url: str, tenant: str = "dodici") -> str:
    """An access token from the live server for the tests' API client."""
    r = requests.post(f"{url}/auth/realms/{tenant}/protocol/openid-connect/token",
                      data={"grant_type": "client_credentials", "client_id": CLIENT[0],
                            "client_secret": CLIENT[1]}, timeout=10)
    r.raise_for_status()
    return r.json()["access_token"]


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a uvicorn server over a fresh database file (one per test module)."""
    db: Path = tmp_path_factory.mktemp("live") / "sim.db"
    settings: Any = make_settings(db=str(db))
    with running_server(settings) as url:
        yield url


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    """Poll until condition() is truthy (and return it), or fail saying what was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.02)


def register_sink(url: str, headers: dict[str, str], callback_url: str,
                  integration_id: str = "sink", api_key: str = "k") -> None:
    """Register an Event Stream integration of the tenant in `headers` posting to a sink."""
    r = requests.post(f"{url}/api/v1/org/integrations/eventstream", headers=headers,
                      json={"id": integration_id, "callback_parameters": {
                          "callback_url": callback_url, "api_key": api_key}}, timeout=10)
    assert r.status_code in (200, 201), r.text


def fixed_world(url: str, tenant: str, seed: int = 1) -> None:
    """Give a test tenant the same world whatever its (counter-made) name, so that which
    tenant a test gets, which depends on how tests are spread over workers, cannot matter."""
    r = requests.post(f"{url}/_sim/seed", json={"seed": seed, "key": "tests", "tenant": tenant},
                      timeout=30)
    assert r.status_code == 200, r.text
