"""The mock OMS under /oms: NewStore's webhooks answered from the world, within the contract,
and the platform using it as its external OMS over real HTTP."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import uvicorn

from simulator.app import create_app
from simulator.oms.contract import check
from simulator.platform import config, external_oms
from tests.conftest import make_settings
from tests.server import _wait_until_ready, server_token

KEY = "mock-oms-key-0123456789"


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    """A real server whose platform uses its own mock OMS (tenant dodici)."""
    db = tmp_path_factory.mktemp("oms") / "sim.db"
    app = create_app(make_settings(db=str(db), dispatch=False))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        url = _wait_until_ready(server, thread)
        with app.platform.store.tx() as tx:  # past the API's https rule: a local OMS
            config._store(tx, "dodici", config.AVAILABILITY_WEBHOOK, {
                "url": f"{url}/oms/availabilities", "api_key": KEY,
                "external_identifier": "product_id", "timeout": 5})
            config._store(tx, "dodici", external_oms.ORDER_WEBHOOK,
                          {"url": f"{url}/oms", "api_key": KEY, "timeout": 5})
        yield url, app
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        app.platform.store.close()


@pytest.fixture(scope="module")
def headers(sim) -> dict[str, str]:
    return {"Authorization": f"Bearer {server_token(sim[0])}"}


def _some_order(app: Any) -> dict:
    with app.platform.store.read() as tx:
        return next(o for o in tx.query("dodici", "order", limit=100)
                    if o.get("customer_email"))


def test_the_mock_needs_the_configured_key(sim):
    url, _ = sim
    body = {"products": [{"product_id": "x", "external_identifier": "x"}],
            "fulfillment_locations": ["DC01"]}
    r = requests.post(f"{url}/oms/availabilities", json=body, timeout=10)
    assert r.status_code == 401
    r = requests.post(f"{url}/oms/availabilities", json=body, timeout=10,
                      headers={"Authorization": "wrong-key-0123456789abc"})
    assert r.status_code == 403 and r.json()["error_code"] == "invalid_api_key"
    r = requests.post(f"{url}/oms/availabilities", json={"products": 1}, timeout=10,
                      headers={"Authorization": KEY})
    assert r.status_code == 400


def test_mock_availability_is_the_stock_and_keeps_the_contract(sim, headers):
    url, app = sim
    with app.platform.store.read() as tx:
        pid = tx.query("dodici", "product", ascending=True, limit=1)[0]["id"]
    r = requests.post(f"{url}/v0/d/import/availability", headers=headers, timeout=10,
                      json={"fulfillment_location_id": "DC01",
                            "items": [{"product_id": pid, "quantity": 7}]})
    assert r.status_code == 200, r.text
    r = requests.post(f"{url}/oms/availabilities", headers={"Authorization": KEY}, timeout=10,
                      json={"products": [{"product_id": pid, "external_identifier": pid}],
                            "fulfillment_locations": ["DC01", "NOWHERE"]})
    assert r.status_code == 200, r.text
    assert check("availability", 200, r.json()) == []
    assert {a["fulfillment_location"]: a["atp"] for a in r.json()["availabilities"]} == {
        "DC01": 7, "NOWHERE": 0}
    # the platform's checkout asks the mock for ATP (the stock of every routed location)
    r = requests.post(f"{url}/_sim/actions/place-order", params={"tenant": "dodici"},
                      timeout=30, json={"kind": "endless_aisle", "items": [{"product_id": pid}]})
    assert r.status_code == 201 and r.json()["atp_source"] == "webhook", r.text
    entries = requests.get(f"{url}/_sim/journal", params={"system": "oms", "tenant": "dodici"},
                           timeout=10).json()["entries"]
    assert entries[0]["operation_id"] == "availability" and entries[0]["error"] is None
    assert entries[0]["status"] == 200


def test_mock_order_details_and_the_platform_through_it(sim, headers):
    url, app = sim
    order = _some_order(app)
    number = order["external_id"]
    r = requests.get(f"{url}/oms/orders/{number}", headers={"Authorization": KEY}, timeout=10)
    assert r.status_code == 200, r.text
    assert check("order_details", 200, r.json()) == []
    assert r.json()["origin_id"] == order["id"]
    r = requests.get(f"{url}/v0/orders/UNKNOWN-1", params={"id_type": "external"},
                     headers=headers, timeout=10)
    assert r.status_code == 404 and "external OMS answered 404" in r.json()["detail"]


def test_mock_purchase_history_matches_the_platforms_own(sim, headers):
    url, app = sim
    email = _some_order(app)["customer_email"]
    direct = requests.get(f"{url}/oms/orders", params={"consumer_email": email},
                          headers={"Authorization": KEY}, timeout=10)
    assert direct.status_code == 200, direct.text
    assert check("purchase_history", 200, direct.json()) == []
    via = requests.get(f"{url}/v0/c/customer_orders", params={"consumer_email": email},
                       headers=headers, timeout=10)
    assert via.status_code == 200, via.text
    assert via.json() == direct.json() and via.json()["orders"]
    assert {o["customer"]["email"] for o in via.json()["orders"]} == {email}
    r = requests.get(f"{url}/oms/orders", params={"consumer_token": "t"},
                     headers={"Authorization": KEY}, timeout=10)
    assert r.status_code == 400 and "detokenize" in r.json()["detail"]
