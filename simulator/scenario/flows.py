"""NewStore's business flows as plain Python functions over a running simulator: the one flow
library behind the scenario runner, the pytest plugin and the Locust user."""

from __future__ import annotations

from typing import Any

from simulator.scenario.client import Answer, SimClient

Doc = dict[str, Any]
ACTIONS = ("place-order", "pick", "hand-over", "cancel-items", "return", "appease", "exchange")


class FlowFailed(Exception):
    """The simulator refused a flow step; the message has its answer."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        super().__init__(answer.describe())


def call_action(sim: SimClient, tenant: str, name: str, body: Doc | None = None) -> Answer:
    """POST /_sim/actions/NAME for the tenant, whatever the answer."""
    if name not in ACTIONS:
        raise ValueError(f"unknown action {name!r}; one of {', '.join(ACTIONS)}")
    return sim.control("POST", f"/actions/{name}", tenant, json=body or {})


def action(sim: SimClient, tenant: str, name: str, body: Doc | None = None) -> Doc:
    """Run an action; FlowFailed unless the simulator did it."""
    answer = call_action(sim, tenant, name, body)
    if not answer.ok():
        raise FlowFailed(answer)
    return answer.body


def cash_and_carry(sim: SimClient, tenant: str, **fields: Any) -> Doc:
    """A store sale carried out at once: authorized, created, opened, completed, captured."""
    return action(sim, tenant, "place-order", {"kind": "cash_and_carry", **fields})


def endless_aisle(sim: SimClient, tenant: str, **fields: Any) -> Doc:
    """A store sale shipped to the customer, after the OMS's ATP says it is available."""
    return action(sim, tenant, "place-order", {"kind": "endless_aisle", **fields})


def mixed_cart(sim: SimClient, tenant: str, **fields: Any) -> Doc:
    """Some items carried out, some shipped, in one order."""
    return action(sim, tenant, "place-order", {"kind": "mixed_cart", **fields})


def inject_order(sim: SimClient, tenant: str, body: Doc) -> Doc:
    """Order injection as an external OMS does it (POST /v0/d/fulfill_order)."""
    answer = sim.platform("POST", "/v0/d/fulfill_order", tenant, json=body)
    if not answer.ok():
        raise FlowFailed(answer)
    return answer.body


def pick(sim: SimClient, tenant: str, fulfillment_request_id: str, outcome: str = "ok") -> Doc:
    """A store picks (ok) or fails to (mispick, mispack)."""
    return action(sim, tenant, "pick", {"fulfillment_request_id": fulfillment_request_id,
                                        "outcome": outcome})


def hand_over(sim: SimClient, tenant: str, fulfillment_request_id: str) -> Doc:
    """Handed to the customer (BOPIS) or the carrier (ship from store)."""
    return action(sim, tenant, "hand-over", {"fulfillment_request_id": fulfillment_request_id})


def cancel_items(sim: SimClient, tenant: str, order_id: str, reason: str = "customer_request",
                 item_ids: list[str] | None = None) -> Doc:
    """Cancel some (or all remaining) items of an order."""
    body: Doc = {"order_id": order_id, "reason": reason}
    if item_ids:
        body["items"] = [{"item_id": i} for i in item_ids]
    return action(sim, tenant, "cancel-items", body)


def return_items(sim: SimClient, tenant: str, order_id: str | None,
                 items: list[Doc], **fields: Any) -> Doc:
    """An in-store return, referenced (order_id) or not (None, with payment_details)."""
    body: Doc = {"items": items, **fields}
    if order_id:
        body["order_id"] = order_id
    return action(sim, tenant, "return", body)


def appease(sim: SimClient, tenant: str, order_id: str, amount: float, **fields: Any) -> Doc:
    """An appeasement refund on an order."""
    return action(sim, tenant, "appease", {"order_id": order_id, "amount": amount, **fields})


def exchange(sim: SimClient, tenant: str, order_id: str, return_items: list[Doc],
             new_items: list[Doc], **fields: Any) -> Doc:
    """Return items and take others in one go (a new exchange order)."""
    return action(sim, tenant, "exchange", {"order_id": order_id, "return_items": return_items,
                                            "new_items": new_items, **fields})


def order(sim: SimClient, tenant: str, order_id: str) -> Doc:
    """The order as an integration reads it through GraphQL (items, payments, requests)."""
    query = """query($id: String!, $tenant: String!) { order(id: $id, tenant: $tenant) {
      id externalId status channelType currency grandTotal demandLocationId
      items { nodes { id productId quantity pricebookPrice tax status } }
      fulfillmentRequests { nodes { id status fulfillmentLocationId serviceLevel } }
      paymentAccount { transactions { nodes { transactionType amount } } } } }"""
    answer = sim.graphql(tenant, query, {"id": order_id, "tenant": tenant})
    if not answer.ok() or (answer.body or {}).get("errors"):
        raise FlowFailed(answer)
    return answer.body["data"]["order"]
