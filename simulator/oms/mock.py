"""The mock OMS: answers NewStore's webhooks from the simulator's world. Pure rules here; the
handlers (simulator/oms/handlers.py) hand in the world's stock and orders."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable
from typing import Any

from simulator.core.errors import Forbidden, ValidationFailed

Doc = dict[str, Any]

Stock = Callable[[str, str], int]  # (location, product) -> quantity on hand


def check_key(given: str, accepted: Iterable[str]) -> None:
    """The mock OMS accepts the api_key of the tenant's configured webhooks (any key when the
    tenant configured none); a missing header is Connexion's 401 before this."""
    keys = set(accepted)
    if keys and given not in keys:
        raise Forbidden("the Authorization header is not the api_key of a configured OMS "
                        "webhook", error_code="invalid_api_key")


def availabilities(body: Doc, stock: Stock, known: set[str]) -> Doc:
    """ATP = stock on hand per asked product and location; unknown locations have none."""
    out = []
    for product in body["products"]:
        pid = product["product_id"]
        for loc in body["fulfillment_locations"]:
            out.append({"product_id": pid, "external_identifier": product["external_identifier"],
                        "fulfillment_location": loc,
                        "atp": max(0, stock(loc, pid)) if loc in known else 0})
    return {"availabilities": out}


def consumer_email(email: str | None, token: str | None) -> str:
    """The mock OMS knows customers by email; it does not detokenize consumer_token."""
    if token and not email:
        raise ValidationFailed("the mock OMS does not detokenize consumer_token; send "
                               "consumer_email", field="consumer_token")
    if not email:
        raise ValidationFailed("consumer_email or consumer_token is required",
                               field="consumer_email")
    return email


# cancellation reasons of a store's failure, which an external OMS answers by re-routing
REROUTE_REASONS = ("insufficient_stock", "damaged", "canceled_by_fulfillment_node",
                   "unknown_fulfillment_node")
_SUFFIX = re.compile(r"^(?P<base>.+)-R(?P<n>\d+)$")


def next_order_number(external_id: str) -> str:
    """Order numbers are never reused: `123` is re-routed as `123-R1`, `123-R1` as `123-R2`."""
    match = _SUFFIX.match(external_id)
    if match:
        return f"{match['base']}-R{int(match['n']) + 1}"
    return f"{external_id}-R1"


def choose_store(stores: Iterable[str], needed: dict[str, int], stock: Stock,
                 excluded: set[str]) -> str | None:
    """The first other store, by id, with every needed product in stock."""
    for store in sorted(stores):
        if store in excluded:
            continue
        if all(stock(store, pid) >= qty for pid, qty in needed.items()):
            return store
    return None


def rerouted_body(body: Doc, external_id: str, store: str) -> Doc:
    """The original injection payload under a new order number, every shipment routed to
    `store` by the OMS (routing strategy `external`)."""
    out = copy.deepcopy(body)
    out["external_id"] = external_id
    for shipment in out["shipments"]:
        option = shipment["shipping_option"]
        option["routing_strategy"] = {"strategy": "external", "fulfillment_node_id": store}
    return out
