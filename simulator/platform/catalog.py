"""Fulfillment locations, their stock, and the availability import that sets both up."""

from __future__ import annotations

from typing import Any

from simulator.core.errors import NotFound, ValidationFailed
from simulator.core.store import Store, Tx
from simulator.platform import entities as E

Doc = dict[str, Any]

ADDRESS_KEYS = ("first_name", "last_name", "address_line_1", "address_line_2", "city", "state",
                "zip_code", "country", "phone")


def stock_id(location_id: str, product_id: str) -> str:
    """The store id of a stock document."""
    return f"{location_id}/{product_id}"


def stock_quantity(tx: Tx, tenant: str, location_id: str, product_id: str) -> int:
    """Stock on hand of a product at a location (0 when never imported)."""
    doc = tx.get(tenant, E.STOCK, stock_id(location_id, product_id))
    return doc["quantity"] if doc else 0


def location_stock(tx: Tx, tenant: str, location_id: str) -> dict[str, int]:
    """Every product's stock at a location, by product id."""
    docs = tx.query(tenant, E.STOCK, ascending=True, parent_id=location_id)
    return {d["product_id"]: d["quantity"] for d in docs}


def location_exists(tx: Tx, tenant: str, location_id: str) -> bool:
    """Whether a fulfillment location is set up (orders routed elsewhere get cancelled)."""
    return tx.get(tenant, E.LOCATION, location_id) is not None


def new_location(location_id: str, spec: Doc, now: str) -> Doc:
    """A location document shaped like the generated world's, from an import's hints."""
    address = dict.fromkeys(ADDRESS_KEYS, "")
    address["country"] = "US"
    address.update({k: str(v) for k, v in (spec.get("address") or {}).items()})
    kind = spec.get("type") or "store"
    default_name = f"{location_id} {'Store' if kind == 'store' else 'Distribution Center'}"
    return {
        "id": location_id,
        "type": kind,
        "name": spec.get("name") or default_name,
        "fulfillment_node_id": location_id,
        "address": address,
        "timezone": spec.get("timezone") or "America/New_York",
        "currency": spec.get("currency") or "USD",
        "is_active": True,
        "created_at": now,
    }


def import_availability(store: Store, tenant: str, body: Doc, *, import_id: str,
                        now: str) -> Doc:
    """Record stock for one location, creating the location when it is unknown.

    Unknown product ids are accepted and recorded (catalog and stock imports arrive in any
    order) and listed in the answer.
    """
    location_id = body["fulfillment_location_id"].strip()
    if not location_id or "/" in location_id:
        raise ValidationFailed(f"invalid fulfillment_location_id {location_id!r}",
                               field="fulfillment_location_id")
    items = body["items"]
    seen: set[str] = set()
    for n, item in enumerate(items):
        if item["product_id"] in seen:
            raise ValidationFailed(f"product_id {item['product_id']!r} appears twice",
                                   error_code="duplicate_product_id",
                                   field=f"items[{n}].product_id")
        seen.add(item["product_id"])
    unknown: list[str] = []
    removed = 0
    with store.tx() as tx:
        created = not location_exists(tx, tenant, location_id)
        if created:
            E.save(tx, tenant, E.LOCATION, new_location(location_id, body.get("location") or {},
                                                         now))
        if body.get("full"):
            for product_id in location_stock(tx, tenant, location_id):
                if product_id not in seen:
                    tx.delete(tenant, E.STOCK, stock_id(location_id, product_id))
                    removed += 1
        for item in items:
            pid = item["product_id"]
            if tx.get(tenant, E.PRODUCT, pid) is None:
                unknown.append(pid)
            E.save(tx, tenant, E.STOCK, {
                "id": stock_id(location_id, pid), "fulfillment_location_id": location_id,
                "product_id": pid, "quantity": item["quantity"], "updated_at": now,
                "import_id": import_id})
    return {"import_id": import_id, "fulfillment_location_id": location_id,
            "location_created": created, "imported": len(items), "removed": removed,
            "unknown_product_ids": unknown, "imported_at": now}


def store_view(loc: Doc) -> Doc:
    """A location as the legacy stores API shows it."""
    address = dict(loc.get("address") or {})
    address["country_code"] = address.pop("country", "")
    return {
        "store_id": loc["id"],
        "label": loc["name"],
        "fulfillment_node_id": loc.get("fulfillment_node_id") or loc["id"],
        "physical_address": address,
        "timezone": loc.get("timezone", ""),
        "currency": loc.get("currency", ""),
        "active_status": bool(loc.get("is_active", True)),
        "created_at": loc.get("created_at", ""),
    }


def list_stores(store: Store, tenant: str) -> list[Doc]:
    """The tenant's stores (distribution centers are not stores)."""
    with store.read() as tx:
        locations = tx.query(tenant, E.LOCATION, ascending=True)
    return [store_view(loc) for loc in locations if loc["type"] == "store"]


def get_store(store: Store, tenant: str, store_id: str) -> Doc:
    """One store, or 404."""
    with store.read() as tx:
        loc = tx.get(tenant, E.LOCATION, store_id)
    if loc is None or loc["type"] != "store":
        raise NotFound(f"store {store_id!r} not found")
    return store_view(loc)
