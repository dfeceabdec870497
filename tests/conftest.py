"""Fixtures: a small seeded world in :memory:, a test client, and ready-made auth headers."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest

warnings.filterwarnings("ignore", category=DeprecationWarning)

from simulator.app import create_app  # noqa: E402
from simulator.settings import Settings, WorldSize  # noqa: E402


def _validate_each_spec_once() -> None:
    """Connexion checks a spec against the OpenAPI meta-schema on every add_api (three
    quarters of create_app); the tests build hundreds of apps from the same two specs, so
    each distinct document is checked once per test process."""
    import hashlib
    import json

    from connexion.spec import OpenAPISpecification

    check = OpenAPISpecification._validate_spec.__func__  # type: ignore[attr-defined]
    seen: set[str] = set()

    def validate_once(cls: type, spec: dict) -> None:
        key = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()
        if key not in seen:
            check(cls, spec)
            seen.add(key)

    OpenAPISpecification._validate_spec = classmethod(validate_once)  # type: ignore[assignment]


_validate_each_spec_once()

CLIENT = ("test-client", "test-secret")
SMALL = WorldSize(products=30, stores=4, customers=20, orders=60)


def make_settings(**changes: Any) -> Settings:
    """Settings for tests: in-memory store, small world, responses validated."""
    base: dict[str, Any] = {"db": ":memory:", "world": SMALL, "api_clients": (CLIENT,),
                            "validate_responses": True}
    base.update(changes)
    return Settings(**base)


@pytest.fixture
def settings() -> Settings:
    return make_settings()


@pytest.fixture
def app(settings: Settings):
    return create_app(settings)


@pytest.fixture
def client(app) -> Iterator[Any]:
    with app.test_client() as c:
        yield c


def get_token(client: Any, tenant: str = "dodici") -> str:
    r = client.post(f"/auth/realms/{tenant}/protocol/openid-connect/token",
                    data={"grant_type": "client_credentials", "client_id": CLIENT[0],
                          "client_secret": CLIENT[1]})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


@pytest.fixture
def auth(client: Any) -> dict[str, str]:
    """Headers for the default tenant (dodici)."""
    return {"Authorization": f"Bearer {get_token(client)}"}


@pytest.fixture
def platform(app):
    return app.platform


@pytest.fixture
def sample_order_id() -> str:
    from simulator.core.world import SAMPLE_ORDER_ID
    return SAMPLE_ORDER_ID
