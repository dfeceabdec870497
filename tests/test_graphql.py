"""NewStore's GraphQL API: the playbook's sample query, connections, filters, datetimes,
tenancy, errors, and introspection through the gql client against a real server."""

from __future__ import annotations

import re
from typing import Any

import pytest

from simulator.core.world import SAMPLE_ORDER_ID, WorldBuilder
from simulator.graphql.schema import snake
from tests.server import live_server, server_token  # noqa: F401

URL = "/api/v1/org/data/query"
ISO_NO_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}$")
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

# Exactly as printed in NewStore's "ERP integration playbook to sync returns".
SAMPLE_QUERY = """query MyQuery {
order(id: "012345Ab-CdEf-GhIj-KlMn-OpQrStUvWxYz", tenant: "dodici") {
externalId
placedAt
demandLocationId
currency
isExchange
isHistorical
channel
channelType
shippingTax
shippingTotal
taxExempt
taxStrategy
taxTotal
subtotal
grandTotal
discounts {
edges {
node {
couponCode
}
}
}
paymentAccount {
instruments {
edges {
node {
paymentMethod
paymentOrigin
paymentProvider
paymentAccountTransactions {
edges {
node {
amount
currency
transactionType
}
}
}
}
}
}
}
items {
edges {
node {
productId
quantity
pricebookPrice
itemDiscounts
orderDiscounts
tax
shippingServiceLevel
fulfillmentLocationId
}
}
}
}
}
"""


def gql(client: Any, auth: dict[str, str], query: str, variables: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"query": query}
    if variables is not None:
        body["variables"] = variables
    r = client.post(URL, json=body, headers={**auth, **(headers or {})})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    return r.json()


def order_query(fields: str, order_id: str = SAMPLE_ORDER_ID, tenant: str = "dodici") -> str:
    return f'{{ order(id: "{order_id}", tenant: "{tenant}") {{ {fields} }} }}'


# -- the playbook's sample query --------------------------------------------------------

def test_sample_query_answers_every_field_with_its_type(client, auth):
    body = gql(client, auth, SAMPLE_QUERY)
    assert "errors" not in body
    order = body["data"]["order"]
    strings = ("externalId", "demandLocationId", "currency", "channel", "channelType",
               "taxStrategy")
    for name in strings:
        assert isinstance(order[name], str) and order[name], name
    for name in ("isExchange", "isHistorical", "taxExempt"):
        assert isinstance(order[name], bool), name
    for name in ("shippingTax", "shippingTotal", "taxTotal", "subtotal", "grandTotal"):
        assert isinstance(order[name], float), name
    assert ISO_NO_OFFSET.match(order["placedAt"])
    assert order["externalId"] == "GD-DODICI-0001"
    assert order["channelType"] == "store" and order["channel"] == "US01"
    assert order["currency"] == "USD"
    assert order["grandTotal"] == pytest.approx(
        order["subtotal"] - 19.8 + order["shippingTotal"] + order["taxTotal"])
    assert [e["node"]["couponCode"] for e in order["discounts"]["edges"]] == ["WELCOME10"]

    instruments = order["paymentAccount"]["instruments"]["edges"]
    assert len(instruments) == 1
    instrument = instruments[0]["node"]
    for name in ("paymentMethod", "paymentOrigin", "paymentProvider"):
        assert isinstance(instrument[name], str) and instrument[name], name
    txs = [e["node"] for e in instrument["paymentAccountTransactions"]["edges"]]
    assert [t["transactionType"] for t in txs] == ["authorize", "capture", "refund"]
    for tx in txs:
        assert isinstance(tx["amount"], float) and tx["amount"] > 0
        assert tx["currency"] == "USD"
    assert txs[0]["amount"] == order["grandTotal"]

    items = [e["node"] for e in order["items"]["edges"]]
    assert len(items) == 2
    for item in items:
        assert isinstance(item["productId"], str) and item["productId"]
        assert isinstance(item["quantity"], int) and item["quantity"] == 1
        for name in ("pricebookPrice", "itemDiscounts", "orderDiscounts", "tax"):
            assert isinstance(item[name], float), name
        assert item["shippingServiceLevel"] == "IN_STORE_HANDOVER"
        assert item["fulfillmentLocationId"] == "US01"


def test_sample_query_is_the_one_the_benchmark_sends():
    from pathlib import Path
    bench = Path(__file__).resolve().parent.parent / "loadtests" / "sample_query.graphql"
    assert bench.read_text().strip() == SAMPLE_QUERY.strip()


def test_unknown_order_is_null_without_error(client, auth):
    body = gql(client, auth, order_query("id", order_id="no-such-order"))
    assert body == {"data": {"order": None}}


# -- tenancy ------------------------------------------------------------------------------

def test_tenant_argument_must_be_the_request_tenant(client, auth):
    body = gql(client, auth, order_query("id externalId", tenant="acme"))
    assert body["data"] == {"order": None}
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert body["errors"][0]["path"] == ["order"]


def test_another_tenant_cannot_see_dodici_orders(client):
    from tests.conftest import get_token
    auth = {"Authorization": f"Bearer {get_token(client, 'acme')}", "tenant": "acme"}
    body = gql(client, auth, order_query("id", tenant="acme"))
    assert body == {"data": {"order": None}}
    listed = gql(client, auth, "query($id: String) { orders(filter: {id: {equalTo: $id}})"
                               " { totalCount } }", {"id": SAMPLE_ORDER_ID})
    assert listed["data"]["orders"]["totalCount"] == 0


def test_missing_token_is_401(client):
    r = client.post(URL, json={"query": "{ __typename }"})
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")


# -- connections and filters ---------------------------------------------------------------

def test_nodes_and_edges_give_the_same_items(client, auth):
    order = gql(client, auth, order_query(
        "items { totalCount nodes { id productId } edges { cursor node { id productId } } }"
    ))["data"]["order"]
    items = order["items"]
    assert items["totalCount"] == 2
    assert items["nodes"] == [e["node"] for e in items["edges"]]
    assert len({e["cursor"] for e in items["edges"]}) == 2


def test_first_and_page_info(client, auth):
    conn = gql(client, auth, "{ orders(first: 3) { totalCount nodes { placedAt } pageInfo {"
                             " hasNextPage hasPreviousPage startCursor endCursor } } }"
               )["data"]["orders"]
    assert len(conn["nodes"]) == 3 and conn["totalCount"] > 3
    assert conn["pageInfo"]["hasNextPage"] is True
    assert conn["pageInfo"]["hasPreviousPage"] is False
    placed = [n["placedAt"] for n in conn["nodes"]]
    assert placed == sorted(placed, reverse=True)
    after = conn["pageInfo"]["endCursor"]
    nxt = gql(client, auth, "query($c: Cursor) { orders(first: 3, after: $c) { nodes"
                            " { placedAt } pageInfo { hasPreviousPage } } }", {"c": after}
              )["data"]["orders"]
    assert nxt["pageInfo"]["hasPreviousPage"] is True
    assert nxt["nodes"][0]["placedAt"] <= placed[-1]


def test_orders_filter_by_external_id_equal_and_in(client, auth):
    one = gql(client, auth, '{ orders(filter: {externalId: {equalTo: "GD-DODICI-0001"}})'
                            ' { totalCount nodes { id } } }')["data"]["orders"]
    assert one == {"totalCount": 1, "nodes": [{"id": SAMPLE_ORDER_ID}]}
    many = gql(client, auth, 'query($ids: [String!]) { orders(filter: {externalId: {in: $ids}})'
                             ' { nodes { externalId } } }',
               {"ids": ["GD-DODICI-0001", "GD000000001", "nope"]})["data"]["orders"]
    assert sorted(n["externalId"] for n in many["nodes"]) == ["GD-DODICI-0001", "GD000000001"]


def test_orders_filter_not_in_and_not_equal_on_any_field(client, auth):
    body = gql(client, auth, '{ all: orders { totalCount }'
                             ' web: orders(filter: {channelType: {equalTo: "web"}}) { totalCount }'
                             ' notWeb: orders(filter: {channelType: {notIn: ["web"]}})'
                             ' { totalCount nodes { channelType } }'
                             ' ne: orders(filter: {channelType: {notEqualTo: "web"}})'
                             ' { totalCount } }')["data"]
    assert body["web"]["totalCount"] + body["notWeb"]["totalCount"] == body["all"]["totalCount"]
    assert body["ne"]["totalCount"] == body["notWeb"]["totalCount"]
    assert {n["channelType"] for n in body["notWeb"]["nodes"]} == {"store"}


def test_authorize_transactions_with_their_instrument(client, auth):
    order = gql(client, auth, order_query(
        'paymentAccount { transactions(filter: {transactionType: {equalTo: "authorize"}}) {'
        ' nodes { amount currency transactionType createdAt instrument { paymentMethod'
        ' paymentProvider paymentWallet paymentOrigin } } } }'))["data"]["order"]
    nodes = order["paymentAccount"]["transactions"]["nodes"]
    assert len(nodes) == 1
    assert nodes[0]["transactionType"] == "authorize"
    assert nodes[0]["instrument"]["paymentMethod"] in {"cash", "credit_card"}
    assert nodes[0]["instrument"]["paymentOrigin"] == "newstore"


def test_items_filter_not_in_status(client, auth):
    order = gql(client, auth, order_query(
        'all: items { totalCount } kept: items(filter: {status: {notIn: ["returned"]}})'
        ' { nodes { status } }'))["data"]["order"]
    assert order["all"]["totalCount"] == 2
    assert all(n["status"] != "returned" for n in order["kept"]["nodes"])
    assert len(order["kept"]["nodes"]) < 2  # the sample order is partly returned


def test_order_items_root_by_id(client, auth):
    ids = [n["id"] for n in gql(client, auth, order_query("items { nodes { id } }")
                                )["data"]["order"]["items"]["nodes"]]
    conn = gql(client, auth, "query($ids: [String!]) { orderItems(filter: {id: {in: $ids}}) {"
                             " totalCount nodes { id orderId order { externalId } } } }",
               {"ids": ids})["data"]["orderItems"]
    assert conn["totalCount"] == 2
    assert {n["id"] for n in conn["nodes"]} == set(ids)
    assert {n["order"]["externalId"] for n in conn["nodes"]} == {"GD-DODICI-0001"}


def test_fulfillment_requests_and_their_items(client, auth):
    frs = gql(client, auth, "{ fulfillmentRequests(first: 1) { nodes { id orderId } } }"
              )["data"]["fulfillmentRequests"]["nodes"]
    fr_id = frs[0]["id"]
    fr = gql(client, auth, 'query($id: String!) { fulfillmentRequest(id: $id, tenant: "dodici")'
                           ' { id orderId nodeId fulfillmentLocationId serviceLevel'
                           ' logicalTimestamp createdAt'
                           ' items(filter: {status: {notIn: ["rejected", "cancelled"]}})'
                           ' { edges { node { id productId carrier trackingCode shippedAt } } }'
                           ' order { id fulfillmentRequests(first: 50) { nodes { id } } } } }',
              {"id": fr_id})["data"]["fulfillmentRequest"]
    assert fr["id"] == fr_id and fr["orderId"] == frs[0]["orderId"]
    assert isinstance(fr["logicalTimestamp"], int)
    assert ISO_NO_OFFSET.match(fr["createdAt"])
    item = fr["items"]["edges"][0]["node"]
    assert item["carrier"] and item["trackingCode"] and ISO_NO_OFFSET.match(item["shippedAt"])
    assert fr_id in [n["id"] for n in fr["order"]["fulfillmentRequests"]["nodes"]]


def test_return_with_its_order(client, auth):
    returns = gql(client, auth, order_query("returns { nodes { id } }")
                  )["data"]["order"]["returns"]["nodes"]
    ret = gql(client, auth, 'query($id: String!) { return(id: $id, tenant: "dodici")'
                            ' { totalRefundAmount'
                            ' totalRefundAmountAdjusted totalRefundExclTax totalRefundTax'
                            ' returnedAt items { nodes { productId quantity refundAmount } }'
                            ' order { id externalId channelType currency'
                            ' discounts(first: 100) { nodes { couponCode } } } } }',
              {"id": returns[0]["id"]})["data"]["return"]
    assert ret["totalRefundAmount"] == pytest.approx(
        ret["totalRefundExclTax"] + ret["totalRefundTax"])
    assert ret["order"]["id"] == SAMPLE_ORDER_ID
    assert ret["order"]["discounts"]["nodes"] == [{"couponCode": "WELCOME10"}]
    assert ret["items"]["nodes"][0]["quantity"] == 1
    assert isinstance(ret["items"]["nodes"][0]["refundAmount"], float)


def test_addresses_and_extended_attributes(client, auth):
    order = gql(client, auth, order_query(
        "addresses { nodes { addressType firstName lastName addressLine1 addressLine2 city"
        " state zipCode country phone salutation } } extendedAttributes(first: 20)"
        " { nodes { name value } }"))["data"]["order"]
    address = order["addresses"]["nodes"][0]
    assert address["addressType"] == "billing"
    assert address["addressLine1"] and address["zipCode"] and address["country"] == "US"
    assert order["extendedAttributes"]["nodes"] == []


# -- datetimes -------------------------------------------------------------------------------

def test_datetimes_have_no_offset_unless_the_header_asks(client, auth):
    query = order_query(
        "placedAt createdAt paymentAccount { transactions { nodes { createdAt } } }")
    plain = gql(client, auth, query)["data"]["order"]
    assert ISO_NO_OFFSET.match(plain["placedAt"])
    assert plain["placedAt"] == "2025-12-28T19:00:00.000"
    forced = gql(client, auth, query, headers={"Force-Render-Timezone": "true"})["data"]["order"]
    assert forced["placedAt"] == "2025-12-28T19:00:00.000Z"
    assert all(ISO_Z.match(n["createdAt"])
               for n in forced["paymentAccount"]["transactions"]["nodes"])


def test_datetime_filter_accepts_iso_inputs(client, auth):
    body = gql(client, auth, '{ a: orders(filter: {placedAt: {equalTo: "2025-12-28T19:00:00"}})'
                             ' { nodes { id } } b: orders(filter: {placedAt: {equalTo:'
                             ' "2025-12-28T20:00:00+01:00"}}) { nodes { id } } }')["data"]
    assert body["a"]["nodes"] == [{"id": SAMPLE_ORDER_ID}] == body["b"]["nodes"]


# -- errors ----------------------------------------------------------------------------------

@pytest.mark.parametrize("query, fragment", [
    ("{ order(id: ", "Syntax Error"),
    ("{ order(id: \"x\", tenant: \"dodici\") { noSuchField } }", "noSuchField"),
    ("{ orders(first: -1) { totalCount } }", "first must not be negative"),
])
def test_query_errors_are_200_with_errors(client, auth, query, fragment):
    body = gql(client, auth, query)
    assert body["errors"] and fragment in body["errors"][0]["message"]


def test_bad_variables_are_200_with_errors(client, auth):
    body = gql(client, auth, "query($n: Int) { orders(first: $n) { totalCount } }",
               {"n": "many"})
    assert body["errors"] and "$n" in body["errors"][0]["message"]
    bad_cursor = gql(client, auth, "query($c: Cursor) { orders(after: $c) { totalCount } }",
                     {"c": "not-a-cursor"})
    assert "cursor" in bad_cursor["errors"][0]["message"]


@pytest.mark.parametrize("raw, content_type", [
    (b"{not json", "application/json"),
    (b'{"variables": {}}', "application/json"),
    (b'{"query": 42}', "application/json"),
    (b'{"query": "{ __typename }", "variables": [1]}', "application/json"),
    (b'{"query": "{ __typename }", "operationName": 3}', "application/json"),
])
def test_malformed_body_is_400_problem(client, auth, raw, content_type):
    r = client.post(URL, content=raw, headers={**auth, "Content-Type": content_type})
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["status"] == 400


def test_operation_name_and_variables(client, auth):
    query = ("query A($id: String!) { order(id: $id, tenant: \"dodici\") { externalId } }"
             " query B { orders(first: 1) { totalCount } }")
    r = client.post(URL, json={"query": query, "variables": {"id": SAMPLE_ORDER_ID},
                               "operationName": "A"}, headers=auth)
    assert r.json() == {"data": {"order": {"externalId": "GD-DODICI-0001"}}}


def test_response_keeps_the_order_of_the_query(client, auth):
    r = client.post(URL, json={"query": order_query("subtotal externalId currency")},
                    headers=auth)
    assert r.text.index("subtotal") < r.text.index("externalId") < r.text.index("currency")


# -- the schema covers the documents ---------------------------------------------------------

def _fields(client: Any, auth: dict[str, str], type_name: str) -> set[str]:
    body = gql(client, auth, "query($t: String!) { __type(name: $t) { fields { name } } }",
               {"t": type_name})
    return {snake(f["name"]) for f in body["data"]["__type"]["fields"]}


def test_every_document_key_is_a_field(client, auth):
    world = WorldBuilder("dodici", 1, products=10, stores=3, customers=5, orders=60).build()
    order = world.orders[0]
    aliases = {"address_line1": "address_line_1", "address_line2": "address_line_2"}
    cases = {
        "Order": order, "OrderItem": order["items"][0],
        "OrderAddress": order["addresses"][0], "PaymentAccount": world.payment_accounts[0],
        "PaymentInstrument": world.payment_accounts[0]["instruments"][0],
        "PaymentTransaction": world.payment_accounts[0]["transactions"][0],
        "FulfillmentRequest": world.fulfillment_requests[0],
        "FulfillmentRequestItem": world.fulfillment_requests[0]["items"][0],
        "Return": world.returns[0], "ReturnItem": world.returns[0]["items"][0],
        "Refund": world.refunds[0], "TaxProviderDetail": order["items"][0][
            "tax_provider_details"][0],
    }
    discounted = next(o for o in world.orders if o["discounts"])
    cases["OrderDiscount"] = discounted["discounts"][0]
    for type_name, doc in cases.items():
        fields = {aliases.get(f, f) for f in _fields(client, auth, type_name)}
        missing = set(doc) - fields
        assert not missing, f"{type_name} lacks {missing}"


# -- a real server, the gql client and introspection -----------------------------------------

@pytest.mark.server
def test_gql_client_introspects_validates_and_runs(live_server):  # noqa: F811
    from gql import Client, GraphQLRequest
    from gql import gql as parse_gql
    from gql.transport.exceptions import TransportQueryError
    from gql.transport.requests import RequestsHTTPTransport
    from graphql import GraphQLError

    token = server_token(live_server)
    transport = RequestsHTTPTransport(url=f"{live_server}{URL}",
                                      headers={"Authorization": f"Bearer {token}"}, timeout=30)
    client = Client(transport=transport, fetch_schema_from_transport=True)
    with client as session:
        result = session.execute(parse_gql(SAMPLE_QUERY))
        assert result["order"]["externalId"] == "GD-DODICI-0001"
        assert client.schema is not None and client.schema.get_type("Order") is not None
        with pytest.raises(GraphQLError):  # validated locally against the fetched schema
            session.execute(parse_gql("{ order(id: \"x\", tenant: \"dodici\") { nope } }"))
        with pytest.raises(TransportQueryError):
            session.execute(parse_gql('{ order(id: "x", tenant: "acme") { id } }'))
        orders = session.execute(GraphQLRequest(
            "query($ids: [String!]) { orders(filter: {externalId: {in: $ids}})"
            " { nodes { id } } }", variable_values={"ids": ["GD-DODICI-0001"]}))
        assert orders["orders"]["nodes"] == [{"id": SAMPLE_ORDER_ID}]


def test_a_cached_response_follows_writes(client, auth, platform):
    from simulator.platform import entities as E

    query = order_query("externalId items { totalCount }")
    first = gql(client, auth, query)
    assert gql(client, auth, query) == first  # served again (from the response cache)
    with platform.store.tx() as tx:
        doc = tx.get("dodici", E.ORDER, SAMPLE_ORDER_ID)
        doc["external_id"] = "GD-CHANGED"
        doc["items"] = doc["items"][:1]
        E.save(tx, "dodici", E.ORDER, doc)
    assert gql(client, auth, query)["data"]["order"] == {
        "externalId": "GD-CHANGED", "items": {"totalCount": 1}}
    with platform.store.tx() as tx:
        tx.delete("dodici", E.ORDER, SAMPLE_ORDER_ID)
    assert gql(client, auth, query) == {"data": {"order": None}}


def test_too_deep_queries_are_refused(client, auth):
    nested = "items { nodes { order { " * 8 + "id" + " } } }" * 8
    body = gql(client, auth, order_query(nested))
    assert "deep" in body["errors"][0]["message"] and "data" not in body


def test_datetime_variables_are_checked(client, auth):
    body = gql(client, auth, "query($f: OrderFilter) { orders(filter: $f) { totalCount } }",
               {"f": {"placedAt": {"lessThan": "garbage"}}})
    assert body["data"] is None and "ISO 8601" in body["errors"][0]["message"]


def test_cached_body_validator_keeps_rejecting(client, auth):
    """The request body's validator is built once per schema: a body without a query is a
    400 every time, between valid queries."""
    for _ in range(2):
        assert client.post(URL, json={"query": "{ __typename }"}, headers=auth).status_code == 200
        bad = client.post(URL, json={"variables": {}}, headers=auth)
        assert bad.status_code == 400, bad.text
