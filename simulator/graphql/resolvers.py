"""Resolvers that do more than read a key: roots, relations between documents, child lists.

Every other field reads the snake_case key of its camelCase name (bound in schema.py).
List sources return the whole list; schema.py wraps them in filter and paging.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from graphql import GraphQLError, GraphQLResolveInfo

from simulator.core.world import payment_status
from simulator.graphql.loader import (
    FULFILLMENT_REQUEST,
    ORDER,
    PAYMENT_ACCOUNT,
    REFUND,
    RETURN,
    GraphQLContext,
    Loader,
)

Doc = dict[str, Any]
Resolver = Callable[..., Any]
ListSource = Callable[[Any, GraphQLResolveInfo, Doc], list[Any]]

# The key under which a payment instrument or transaction carries its account.
ACCOUNT = "__account__"


def _context(info: GraphQLResolveInfo) -> GraphQLContext:
    return info.context


def _same_tenant(info: GraphQLResolveInfo, tenant: str) -> Loader:
    """The loader, once the `tenant` argument is the request's own tenant."""
    ctx = _context(info)
    if tenant != ctx.tenant:
        raise GraphQLError(
            f"tenant {tenant!r} does not match the tenant of this request ({ctx.tenant!r})",
            extensions={"code": "FORBIDDEN"})
    return ctx.loader


# -- roots: one document --------------------------------------------------------------

def order(_root: Any, info: GraphQLResolveInfo, id: str, tenant: str) -> Doc | None:
    """Query.order(id, tenant)."""
    return _same_tenant(info, tenant).get(ORDER, id)


def fulfillment_request(_root: Any, info: GraphQLResolveInfo, id: str,
                        tenant: str) -> Doc | None:
    """Query.fulfillmentRequest(id, tenant)."""
    return _same_tenant(info, tenant).get(FULFILLMENT_REQUEST, id)


def return_(_root: Any, info: GraphQLResolveInfo, id: str, tenant: str) -> Doc | None:
    """Query.return(id, tenant)."""
    return _same_tenant(info, tenant).get(RETURN, id)


# -- roots: lists, narrowed by indexed filter fields before filtering ---------------------

def _wanted(condition: Doc | None) -> list[Any] | None:
    """The values an `equalTo` or `in` condition allows, or None when it allows any."""
    if not condition:
        return None
    if condition.get("equalTo") is not None:
        return [condition["equalTo"]]
    if condition.get("in") is not None:
        return list(condition["in"])
    return None


def _newest_first(docs: Iterable[Doc], sort_field: str) -> list[Doc]:
    unique = {doc["id"]: doc for doc in docs}
    ordered = sorted(unique.values(), key=lambda d: d["id"])
    ordered.sort(key=lambda d: d.get(sort_field) or "", reverse=True)
    return ordered


def _narrowed(loader: Loader, kind: str, flt: Doc | None, sort_field: str,
              lookups: dict[str, Callable[[str], list[Doc]]]) -> list[Doc]:
    """Candidates from the first indexed condition of the filter, else every document."""
    for name, lookup in lookups.items():
        values = _wanted((flt or {}).get(name))
        if values is not None:
            found = [doc for value in values if isinstance(value, str)
                     for doc in lookup(value)]
            return _newest_first(found, sort_field)
    return loader.all(kind)


def _one(loader: Loader, kind: str) -> Callable[[str], list[Doc]]:
    def lookup(id: str) -> list[Doc]:
        doc = loader.get(kind, id)
        return [doc] if doc else []
    return lookup


def orders(_root: Any, info: GraphQLResolveInfo, args: Doc) -> list[Doc]:
    """Query.orders: the tenant's orders, newest placedAt first."""
    loader = _context(info).loader
    return _narrowed(loader, ORDER, args.get("filter"), "placed_at", {
        "id": _one(loader, ORDER),
        "externalId": lambda v: loader.by_external_id(ORDER, v),
        "customerEmail": lambda v: loader.by_email(ORDER, v),
    })


def fulfillment_requests(_root: Any, info: GraphQLResolveInfo, args: Doc) -> list[Doc]:
    """Query.fulfillmentRequests: newest first."""
    loader = _context(info).loader
    return _narrowed(loader, FULFILLMENT_REQUEST, args.get("filter"), "created_at", {
        "id": _one(loader, FULFILLMENT_REQUEST),
        "orderId": lambda v: loader.children(FULFILLMENT_REQUEST, v),
    })


def returns(_root: Any, info: GraphQLResolveInfo, args: Doc) -> list[Doc]:
    """Query.returns: newest first."""
    loader = _context(info).loader
    return _narrowed(loader, RETURN, args.get("filter"), "returned_at", {
        "id": _one(loader, RETURN),
        "orderId": lambda v: loader.children(RETURN, v),
    })


def _items_of(order_doc: Doc) -> list[Doc]:
    """An order's items, each knowing its order (items live inside the order document)."""
    return [{**item, "order_id": order_doc["id"]} for item in order_doc.get("items") or ()]


def order_items(_root: Any, info: GraphQLResolveInfo, args: Doc) -> list[Doc]:
    """Query.orderItems: items of the tenant's orders, newest order first."""
    loader = _context(info).loader
    flt = args.get("filter") or {}
    order_ids = _wanted(flt.get("orderId"))
    item_ids = _wanted(flt.get("id"))
    if order_ids is not None:
        found = [doc for v in order_ids if isinstance(v, str) for doc in _one(loader, ORDER)(v)]
        docs = _newest_first(found, "placed_at")
    elif item_ids is not None:
        docs = loader.orders_with_items([v for v in item_ids if isinstance(v, str)])
    else:
        docs = loader.all(ORDER)
    return [item for doc in docs for item in _items_of(doc)]


# -- relations ----------------------------------------------------------------------------

def _order_of(source: Doc, info: GraphQLResolveInfo) -> Doc | None:
    """The order a child document (item, fulfillment request, return) belongs to."""
    order_id = source.get("order_id")
    return _context(info).loader.get(ORDER, order_id) if order_id else None


def payment_account(source: Doc, info: GraphQLResolveInfo) -> Doc | None:
    """Order.paymentAccount: keyed by the order id, else found by its order."""
    loader = _context(info).loader
    account = loader.get(PAYMENT_ACCOUNT, source["id"])
    if account is None:
        accounts = loader.children(PAYMENT_ACCOUNT, source["id"])
        account = accounts[0] if accounts else None
    return account


def _with_account(docs: Iterable[Doc], account: Doc) -> list[Doc]:
    return [{**doc, ACCOUNT: account} for doc in docs]


def transaction_instrument(source: Doc, _info: GraphQLResolveInfo) -> Doc | None:
    """PaymentTransaction.instrument: the instrument of its account it moved money on."""
    account = source.get(ACCOUNT) or {}
    for instrument in account.get("instruments") or ():
        if instrument.get("id") == source.get("instrument_id"):
            return {**instrument, ACCOUNT: account}
    return None


def _children(kind: str) -> ListSource:
    def source(parent: Doc, info: GraphQLResolveInfo, _args: Doc) -> list[Doc]:
        return _context(info).loader.children(kind, parent["id"])
    return source


def _instrument_transactions(source: Doc, _info: GraphQLResolveInfo, _args: Doc) -> list[Doc]:
    account = source.get(ACCOUNT) or {}
    mine = (t for t in account.get("transactions") or ()
            if t.get("instrument_id") == source.get("id"))
    return _with_account(mine, account)


# (type, field) -> resolver of a field that is not a connection
FIELD_RESOLVERS: dict[tuple[str, str], Resolver] = {
    ("Query", "order"): order,
    ("Query", "fulfillmentRequest"): fulfillment_request,
    ("Query", "return"): return_,
    ("Order", "paymentAccount"): payment_account,
    ("OrderItem", "order"): _order_of,
    ("FulfillmentRequest", "order"): _order_of,
    ("Return", "order"): _order_of,
    ("PaymentTransaction", "instrument"): transaction_instrument,
    ("PaymentAccount", "paymentStatus"): lambda src, _info: payment_status(src),
}

# (type, field) -> the full list behind a connection field; unlisted connection fields read
# the list stored under their snake_case key in the parent document
LIST_SOURCES: dict[tuple[str, str], ListSource] = {
    ("Query", "orders"): orders,
    ("Query", "orderItems"): order_items,
    ("Query", "fulfillmentRequests"): fulfillment_requests,
    ("Query", "returns"): returns,
    ("Order", "items"): lambda src, _info, _args: _items_of(src),
    ("Order", "fulfillmentRequests"): _children(FULFILLMENT_REQUEST),
    ("Order", "returns"): _children(RETURN),
    ("Order", "refunds"): _children(REFUND),
    ("PaymentAccount", "instruments"):
        lambda src, _info, _args: _with_account(src.get("instruments") or (), src),
    ("PaymentAccount", "transactions"):
        lambda src, _info, _args: _with_account(src.get("transactions") or (), src),
    ("PaymentInstrument", "paymentAccountTransactions"): _instrument_transactions,
}

# field name -> document keys tried in turn (the world writes address_line_1, event
# payloads address_line1)
KEY_ALIASES: dict[str, tuple[str, ...]] = {
    "addressLine1": ("address_line_1", "address_line1"),
    "addressLine2": ("address_line_2", "address_line2"),
}
