"""Availability import (stock per location, creating unknown locations) and the legacy stores
API."""

from __future__ import annotations

import pytest

from simulator.platform import catalog
from simulator.platform import entities as E
from tests.conftest import get_token

PROBLEM = "application/problem+json"
IMPORT = "/v0/d/import/availability"
STORES = "/_/v0/dontuse/stores"
P1, P2 = "1000061", "1000068"  # the first two products of every generated world


def stock(platform, location: str, tenant: str = "dodici") -> dict[str, int]:
    with platform.store.read() as tx:
        return catalog.location_stock(tx, tenant, location)


def test_import_into_a_new_location_creates_it(client, auth, platform):
    r = client.post(IMPORT, headers=auth, json={
        "fulfillment_location_id": "MTLDC1",
        "location": {"name": "Montreal DC", "type": "distribution_center",
                     "address": {"city": "Montreal", "country": "CA"}},
        "items": [{"product_id": P1, "quantity": 7}, {"product_id": P2, "quantity": 0}]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["location_created"] is True
    assert body["imported"] == 2 and body["unknown_product_ids"] == []
    assert body["fulfillment_location_id"] == "MTLDC1"
    assert stock(platform, "MTLDC1") == {P1: 7, P2: 0}
    with platform.store.read() as tx:
        loc = tx.get("dodici", E.LOCATION, "MTLDC1")
        assert catalog.stock_quantity(tx, "dodici", "MTLDC1", P1) == 7
        assert catalog.stock_quantity(tx, "dodici", "MTLDC1", "nope") == 0
    assert loc["type"] == "distribution_center" and loc["name"] == "Montreal DC"
    assert loc["fulfillment_node_id"] == "MTLDC1" and loc["is_active"] is True
    assert loc["address"]["city"] == "Montreal" and loc["address"]["country"] == "CA"
    assert loc["created_at"] == body["imported_at"]


def test_new_store_location_is_listed(client, auth):
    r = client.post(IMPORT, headers=auth, json={"fulfillment_location_id": "9801",
                                                "items": [{"product_id": P1, "quantity": 1}]})
    assert r.json()["location_created"] is True
    store = client.get(f"{STORES}/9801", headers=auth).json()
    assert store["store_id"] == "9801" and store["fulfillment_node_id"] == "9801"
    assert store["active_status"] is True
    assert store["physical_address"]["country_code"] == "US"
    assert "9801" in {s["store_id"] for s in client.get(STORES, headers=auth).json()["stores"]}


def test_import_into_existing_location_updates_stock(client, auth, platform):
    client.post(IMPORT, headers=auth, json={"fulfillment_location_id": "US01", "items": [
        {"product_id": P1, "quantity": 3}, {"product_id": P2, "quantity": 4}]})
    r = client.post(IMPORT, headers=auth, json={"fulfillment_location_id": "US01", "items": [
        {"product_id": P1, "quantity": 9}]})
    assert r.json()["location_created"] is False
    assert r.json()["removed"] == 0
    assert stock(platform, "US01") == {P1: 9, P2: 4}


def test_full_import_removes_unlisted_stock(client, auth, platform):
    client.post(IMPORT, headers=auth, json={"fulfillment_location_id": "US02", "items": [
        {"product_id": P1, "quantity": 3}, {"product_id": P2, "quantity": 4}]})
    r = client.post(IMPORT, headers=auth, json={"fulfillment_location_id": "US02", "full": True,
                                                "items": [{"product_id": P2, "quantity": 1}]})
    assert r.json()["removed"] == 1
    assert stock(platform, "US02") == {P2: 1}


def test_unknown_products_are_recorded_and_reported(client, auth, platform):
    r = client.post(IMPORT, headers=auth, json={"fulfillment_location_id": "US03", "items": [
        {"product_id": "not-in-catalog", "quantity": 2}, {"product_id": P1, "quantity": 1}]})
    assert r.status_code == 200
    assert r.json()["unknown_product_ids"] == ["not-in-catalog"]
    assert stock(platform, "US03") == {"not-in-catalog": 2, P1: 1}


def test_dummy_import_with_no_items_sets_up_the_location(client, auth, platform):
    r = client.post(IMPORT, headers=auth, json={"fulfillment_location_id": "DUMMY1",
                                                "items": []})
    assert r.status_code == 200 and r.json()["location_created"] is True
    with platform.store.read() as tx:
        assert catalog.location_exists(tx, "dodici", "DUMMY1")


def test_plural_alias_path(client, auth, platform):
    r = client.post("/v0/d/import/availabilities", headers=auth, json={
        "fulfillment_location_id": "US04", "items": [{"product_id": P1, "quantity": 5}]})
    assert r.status_code == 200
    assert stock(platform, "US04") == {P1: 5}


def test_duplicate_product_in_one_import(client, auth, platform):
    r = client.post(IMPORT, headers=auth, json={"fulfillment_location_id": "NEWX", "items": [
        {"product_id": P1, "quantity": 1}, {"product_id": P1, "quantity": 2}]})
    assert r.status_code == 400 and r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["error_code"] == "duplicate_product_id"
    assert r.json()["field"] == "items[1].product_id"
    with platform.store.read() as tx:
        assert not catalog.location_exists(tx, "dodici", "NEWX")


@pytest.mark.parametrize("body", [
    {},
    {"fulfillment_location_id": "US01"},
    {"items": []},
    {"fulfillment_location_id": "", "items": []},
    {"fulfillment_location_id": "   ", "items": []},
    {"fulfillment_location_id": "a/b", "items": []},
    {"fulfillment_location_id": "US01", "items": [{"product_id": P1, "quantity": -1}]},
    {"fulfillment_location_id": "US01", "items": [{"product_id": P1, "quantity": 1.5}]},
    {"fulfillment_location_id": "US01", "items": [{"product_id": P1}]},
    {"fulfillment_location_id": "US01", "items": [{"quantity": 1}]},
    {"fulfillment_location_id": "US01", "items": "none"},
    {"fulfillment_location_id": "US01", "items": [], "location": {"type": "warehouse"}},
    {"fulfillment_location_id": 5, "items": []},
    [],
    "x",
])
def test_malformed_imports_are_400(client, auth, body):
    r = client.post(IMPORT, headers=auth, json=body)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith(PROBLEM)


def test_non_json_import_is_4xx_problem(client, auth):
    r = client.post(IMPORT, headers={**auth, "Content-Type": "application/json"},
                    content=b"fulfillment_location_id=US01")
    assert 400 <= r.status_code < 500
    assert r.headers["content-type"].startswith(PROBLEM)


def test_import_needs_a_token(client):
    r = client.post(IMPORT, json={"fulfillment_location_id": "US01", "items": []})
    assert r.status_code == 401


# -- stores -----------------------------------------------------------------------------

def test_list_stores_has_the_world_stores_only(client, auth):
    r = client.get(STORES, headers=auth)
    assert r.status_code == 200
    ids = [s["store_id"] for s in r.json()["stores"]]
    assert ids == ["US01", "US02", "US03", "US04"]
    first = r.json()["stores"][0]
    assert first["label"].endswith("Store")
    assert first["physical_address"]["address_line_1"]
    assert first["timezone"] == "America/New_York"


def test_get_store(client, auth):
    r = client.get(f"{STORES}/US02", headers=auth)
    assert r.status_code == 200
    assert r.json()["store_id"] == "US02" and r.json()["fulfillment_node_id"] == "US02"


@pytest.mark.parametrize("store_id", ["DC01", "NOPE"])
def test_get_store_404(client, auth, store_id):
    r = client.get(f"{STORES}/{store_id}", headers=auth)
    assert r.status_code == 404 and r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["error_code"] == "not_found"


def test_locations_and_stock_are_per_tenant(client, auth, platform):
    client.post(IMPORT, headers=auth, json={"fulfillment_location_id": "ONLYDODICI",
                                            "items": [{"product_id": P1, "quantity": 2}]})
    acme = {"Authorization": f"Bearer {get_token(client, 'acme')}", "tenant": "acme"}
    ids = {s["store_id"] for s in client.get(STORES, headers=acme).json()["stores"]}
    assert "ONLYDODICI" not in ids and "US01" in ids
    assert client.get(f"{STORES}/ONLYDODICI", headers=acme).status_code == 404
    assert stock(platform, "ONLYDODICI", "acme") == {}
    assert stock(platform, "ONLYDODICI") == {P1: 2}
