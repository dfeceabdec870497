"""How each kind of platform document is indexed in the store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from simulator.core.errors import NotFound
from simulator.core.store import Tx

Doc = dict[str, Any]

PRODUCT = "product"
LOCATION = "location"
CUSTOMER = "customer"
ORDER = "order"
PAYMENT_ACCOUNT = "payment_account"
FULFILLMENT_REQUEST = "fulfillment_request"
RETURN = "return"
REFUND = "refund"
CONFIG = "config"
INJECTION = "injection"
OMS_REROUTE = "oms_reroute"  # the mock OMS's re-route of a cancelled order, by its id
STOCK = "stock"  # stock on hand per (fulfillment location, product); id "<location>/<product>"

# maps kind -> function giving the indexed columns of a document of that kind
_INDEX: dict[str, Callable[[Doc], dict[str, str | None]]] = {
    PRODUCT: lambda d: {"external_id": d["external_identifiers"].get("sku"), "sort_key": d["id"]},
    LOCATION: lambda d: {"sort_key": d["id"]},
    CUSTOMER: lambda d: {"email": d["email"], "sort_key": d["created_at"]},
    ORDER: lambda d: {"external_id": d["external_id"], "email": d.get("customer_email"),
                      "parent_id": d.get("customer_id"), "sort_key": d["placed_at"]},
    PAYMENT_ACCOUNT: lambda d: {"parent_id": d["order_id"]},
    FULFILLMENT_REQUEST: lambda d: {"parent_id": d["order_id"], "sort_key": d["created_at"]},
    RETURN: lambda d: {"parent_id": d.get("order_id"), "sort_key": d["returned_at"]},
    REFUND: lambda d: {"parent_id": d["order_id"], "sort_key": d["requested_at"]},
    CONFIG: lambda d: {},
    INJECTION: lambda d: {},
    OMS_REROUTE: lambda d: {"external_id": d["new_external_id"]},
    STOCK: lambda d: {"parent_id": d["fulfillment_location_id"],
                      "external_id": d["product_id"], "sort_key": d["product_id"]},
}


def save(tx: Tx, tenant: str, kind: str, doc: Doc, id: str | None = None) -> None:
    """Write a document with the index columns its kind uses."""
    tx.put(tenant, kind, id or doc["id"], doc, **_INDEX[kind](doc))


def get_or_404(tx: Tx, tenant: str, kind: str, id: str, what: str | None = None) -> Doc:
    """Fetch a document or raise NotFound naming it."""
    return found_or_404(tx.get(tenant, kind, id), kind, id, what)


def found_or_404(doc: Doc | None, kind: str, id: str, what: str | None = None) -> Doc:
    """A document that was looked up, or NotFound naming it."""
    if doc is None:
        raise NotFound(f"{what or kind.replace('_', ' ')} {id!r} not found")
    return doc
