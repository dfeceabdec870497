"""ERP records per tenant (entity kinds erp_<type>), their counters, and the static lookups."""

from __future__ import annotations

import zlib
from typing import Any

from simulator.core.clock import Clock, iso
from simulator.core.errors import Conflict, NotFound
from simulator.core.store import Store, Tx
from simulator.core.world import CARRIERS, IN_STORE_HANDOVER, SERVICE_LEVELS

Doc = dict[str, Any]

# plural (the URL) -> (singular type, id prefix)
TYPES: dict[str, tuple[str, str]] = {
    "cash_sales": ("cash_sale", "CS"),
    "sales_orders": ("sales_order", "SO"),
    "cash_refunds": ("cash_refund", "CR"),
    "credit_memos": ("credit_memo", "CM"),
}
STATS = "erp_stats"
LOCATION = "location"  # the platform's location documents (read only)
CHANNELS = (("web", "Web"), ("store", "Store"))
PAYMENT_METHODS = ("credit_card", "gift_card", "e_gift_card", "cash", "store_credit", "external")
FIELDS = ("newstore_order_id", "newstore_return_id", "customer", "location", "memo")


def kind(record_type: str) -> str:
    """The entity kind of a record type (plural, as in the URL)."""
    return f"erp_{record_type}"


def _label(record_type: str) -> str:
    return TYPES[record_type][0].replace("_", " ")


def create(store: Store, clock: Clock, tenant: str, record_type: str, body: Doc) -> Doc:
    """Store a record; a second one with the same external_id is counted, then a Conflict."""
    single, prefix = TYPES[record_type]
    with store.tx() as tx:
        existing = tx.query(tenant, kind(record_type), external_id=body["external_id"], limit=1)
        if existing:
            _count_duplicate(tx, tenant, record_type)
            duplicate_of = existing[0]["id"]
        else:
            seq = tx.count(tenant, kind(record_type)) + 1
            record: Doc = {
                "id": f"{prefix}-{seq:06d}", "type": single, "external_id": body["external_id"],
                **{f: body.get(f) for f in FIELDS},
                "currency": body["currency"],
                "items": body["items"], "payments": body.get("payments") or [],
                "total": body["total"], "created_at": iso(clock.now()),
            }
            tx.put(tenant, kind(record_type), record["id"], record,
                   external_id=record["external_id"],
                   parent_id=record["newstore_order_id"],
                   sort_key=f"{record['created_at']}|{seq:09d}")
            return record
    # outside the transaction, so that the duplicate's count is committed
    raise Conflict(f"a {_label(record_type)} with external_id {body['external_id']!r} exists"
                   f" ({duplicate_of})", error_code="duplicate_external_id", field="external_id",
                   extra={"existing_id": duplicate_of})


def _count_duplicate(tx: Tx, tenant: str, record_type: str) -> None:
    doc = tx.get(tenant, STATS, "duplicates") or {"id": "duplicates"}
    doc[record_type] = doc.get(record_type, 0) + 1
    tx.put(tenant, STATS, "duplicates", doc)


def list_records(store: Store, tenant: str, record_type: str, *, external_id: str | None = None,
                 newstore_order_id: str | None = None, newstore_return_id: str | None = None,
                 limit: int = 100) -> tuple[list[Doc], int]:
    """Matching records newest first (at most limit), and how many matched."""
    where = {}
    if external_id is not None:
        where["external_id"] = external_id
    if newstore_order_id is not None:
        where["parent_id"] = newstore_order_id
    with store.read() as tx:
        found = tx.query(tenant, kind(record_type), **where)
    if newstore_return_id is not None:
        found = [r for r in found if r.get("newstore_return_id") == newstore_return_id]
    return found[:limit], len(found)


def get(store: Store, tenant: str, record_type: str, record_id: str) -> Doc:
    """One record by its ERP id, or NotFound."""
    with store.read() as tx:
        doc = tx.get(tenant, kind(record_type), record_id)
    if doc is None:
        raise NotFound(f"{_label(record_type)} {record_id!r} not found",
                       error_code="record_not_found")
    return doc


def stats(store: Store, tenant: str) -> dict[str, Doc]:
    """Per record type: how many were created and how many duplicates were rejected."""
    with store.read() as tx:
        duplicates = tx.get(tenant, STATS, "duplicates") or {}
        return {t: {"created": tx.count(tenant, kind(t)),
                    "duplicates_rejected": duplicates.get(t, 0)} for t in TYPES}


# -- lookups (the static maps of the NetSuite example) -------------------------------------

def _erp_number(base: int, value: str) -> str:
    """A stable ERP internal id for a NewStore value (same value, same id, in every run)."""
    return str(base + zlib.crc32(value.encode()) % 9000)


def lookup(store: Store, tenant: str, name: str) -> list[Doc]:
    """The entries of one lookup, generated from the tenant's world, in a stable order."""
    if name == "channels":
        return [{"newstore_id": c, "erp_id": str(n), "name": label}
                for n, (c, label) in enumerate(CHANNELS, start=1)]
    if name == "locations":
        with store.read() as tx:
            locations = tx.query(tenant, LOCATION, ascending=True)
        return [{"newstore_id": loc["id"], "erp_id": str(100 + n), "name": loc["name"],
                 "type": loc["type"], "subsidiary_id": "1",
                 "placeholder_customer_id": _erp_number(10000, f"walk-in/{loc['id']}")}
                for n, loc in enumerate(sorted(locations, key=lambda d: d["id"]), start=1)]
    if name == "payment_items":
        return [{"newstore_id": m, "erp_id": _erp_number(1000, f"payment/{m}"),
                 "name": f"NewStore {m.replace('_', ' ').title()} Payment"}
                for m in PAYMENT_METHODS]
    if name == "shipping_methods":
        levels = (*SERVICE_LEVELS, IN_STORE_HANDOVER)
        return [{"newstore_id": s, "erp_id": str(200 + n),
                 "name": s.replace("_", " ").title(),
                 "carrier": CARRIERS.get(s, "none")}
                for n, s in enumerate(levels, start=1)]
    raise NotFound(f"no lookup {name!r}", error_code="lookup_not_found")
