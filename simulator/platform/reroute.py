"""The mock OMS's answer to a store's failure: it re-injects the cancelled order under a new
order number, routed to another store, as an external OMS that owns routing does."""

from __future__ import annotations

from collections import Counter
from typing import Any

from simulator.oms import mock
from simulator.platform import entities as E
from simulator.platform import injection
from simulator.platform.catalog import stock_quantity
from simulator.platform.context import Platform

Doc = dict[str, Any]


def handle_event(p: Platform, tenant: str, envelope: Doc) -> Doc:
    """What the mock OMS does with one Event Stream event (redeliveries answer the same)."""
    name, payload = envelope["name"], envelope["payload"]
    if name != "order.cancelled":
        return {"event": name, "action": "ignored",
                "reason": "the mock OMS acts only on order.cancelled"}
    with p.store.read() as tx:
        order_id = str(payload.get("id") or "")
        done = tx.get(tenant, E.OMS_REROUTE, order_id) if order_id else None
        if done is not None:
            return _outcome(name, done)
        order = tx.get(tenant, E.ORDER, order_id) if order_id else None
        if order is None:
            return _not(name, f"the platform has no order {order_id!r}")
        reason = order.get("cancellation_reason") or payload.get("cancellation_reason")
        if reason not in mock.REROUTE_REASONS:
            return {"event": name, "action": "ignored",
                    "reason": f"cancelled for {reason!r}, which is not a store's failure"}
        injected = tx.get(tenant, E.INJECTION, order["external_id"] or "")
        if injected is None or injected["order_id"] != order["id"] or "body" not in injected:
            return _not(name, "the order was not injected by an OMS, so there is no order "
                              "to re-route")
        body = injected["body"]
        failed = {s["shipping_option"].get("routing_strategy", {}).get("fulfillment_node_id")
                  for s in body["shipments"]}
        failed |= {fr["fulfillment_location_id"]
                   for fr in tx.query(tenant, E.FULFILLMENT_REQUEST, parent_id=order["id"])}
        needed = Counter(i["product_id"] for s in body["shipments"] for i in s["items"])
        locations = tx.query(tenant, E.LOCATION)
        store = None
        for kind in ("store", "distribution_center"):  # another store first, then a DC
            store = store or mock.choose_store(
                [loc["id"] for loc in locations if loc["type"] == kind], dict(needed),
                lambda loc, pid: stock_quantity(tx, tenant, loc, pid), {f for f in failed if f})
    if store is None:
        return _not(name, "no other store or distribution center has every item of the "
                          "order in stock")
    new_number = mock.next_order_number(order["external_id"])
    answer = injection.inject_order(p, tenant, mock.rerouted_body(body, new_number, store))
    done = {"order_id": order["id"], "external_id": order["external_id"],
            "new_order_id": answer["id"], "new_external_id": new_number,
            "fulfillment_location_id": store}
    with p.store.tx() as tx:
        E.save(tx, tenant, E.OMS_REROUTE, done, id=order["id"])
    return _outcome(name, done)


def _outcome(name: str, done: Doc) -> Doc:
    return {"event": name, "action": "rerouted", "reroute": done}


def _not(name: str, reason: str) -> Doc:
    return {"event": name, "action": "not_rerouted", "reason": reason}
