"""The control plane under /_sim: events on demand, deliveries, attempts, dead letters,
redelivery, latency, and the optional control token."""

from __future__ import annotations

from typing import Any

import pytest

from simulator.app import create_app
from simulator.eventstream import deliveries, outbox
from tests.conftest import make_settings

PROBLEM = "application/problem+json"


@pytest.fixture
def settings():
    return make_settings(dispatch=False)


def add_integration(platform: Any, iid: str = "erp", tenant: str = "dodici", **extra: Any):
    doc = {"tenant": tenant, "id": iid, "status": "running", "filter_conditions": {},
           "simulator": {}, "callback_parameters": {"callback_url": "http://127.0.0.1:9/x"},
           **extra}
    with platform.store.tx() as tx:
        tx.put(tenant, outbox.INTEGRATION, iid, doc)
    return doc


def emit(client: Any, **body: Any) -> Any:
    return client.post("/_sim/events", json=body)


def kill(platform: Any, delivery_id: int, status: str = "dead", code: int = 500) -> None:
    """Make a delivery look as if the dispatcher had attempted it (dead-lettered by default)."""
    with platform.store.tx() as tx:
        row = deliveries.find(tx, "dodici", delivery_id=delivery_id)[0]
        now = platform.clock.timestamp()
        outcome = deliveries.Outcome(delivery_id, "dodici", row["integration_id"],
                                     row["event_id"], 1, now, now, 12.5, code,
                                     None if code < 500 else "HTTP 500", "oops")
        deliveries.record_attempt(tx, outcome)
        deliveries.mark(tx, outcome, status)


# ---------------------------------------------------------------- POST /events

def test_emit_generates_a_payload_and_fans_out(client, platform):
    add_integration(platform)
    r = emit(client, name="order.opened")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["count"] == 1
    event = body["events"][0]
    assert event["name"] == "order.opened" and event["published_at"].endswith("Z")
    with platform.store.read() as tx:
        row = deliveries.event_row(tx, "dodici", event["id"])
        found = deliveries.find(tx, "dodici", event_id=event["id"])
    assert row["payload"]["id"] and row["payload"]["items"]
    assert [d["integration_id"] for d in found] == ["erp"]
    assert found[0]["status"] == "pending"


def test_emit_with_payload_is_published_as_is(client, platform):
    r = emit(client, name="order.created", payload={"id": "broken", "nonsense": [1, 2]})
    assert r.status_code == 201, r.text
    with platform.store.read() as tx:
        row = deliveries.event_row(tx, "dodici", r.json()["events"][0]["id"])
    assert row["payload"] == {"id": "broken", "nonsense": [1, 2]}


def test_emit_set_overwrites_paths(client, platform):
    r = emit(client, name="order.opened",
             set={"items.0.quantity": 3, "external_id": "X-1", "extra.deep": True})
    assert r.status_code == 201, r.text
    with platform.store.read() as tx:
        payload = deliveries.event_row(tx, "dodici", r.json()["events"][0]["id"])["payload"]
    assert payload["items"][0]["quantity"] == 3
    assert payload["external_id"] == "X-1"
    assert payload["extra"] == {"deep": True}


def test_emit_set_on_a_given_payload(client, platform):
    r = emit(client, name="order.created", payload={"items": [{"q": 1}]},
             set={"items.0.q": "two"})
    assert r.status_code == 201
    with platform.store.read() as tx:
        payload = deliveries.event_row(tx, "dodici", r.json()["events"][0]["id"])["payload"]
    assert payload == {"items": [{"q": "two"}]}


def test_emit_count_publishes_distinct_events(client, platform):
    add_integration(platform)
    r = emit(client, name="order.cancelled", count=25)
    assert r.status_code == 201, r.text
    ids = [e["id"] for e in r.json()["events"]]
    assert r.json()["count"] == 25 and len(set(ids)) == 25
    with platform.store.read() as tx:
        assert len(deliveries.find(tx, "dodici", event_name="order.cancelled")) == 25


def test_emit_tenant_from_body_query_and_header(client, platform):
    add_integration(platform, tenant="acme")
    assert emit(client, name="order.opened", tenant="acme").status_code == 201
    assert client.post("/_sim/events?tenant=acme", json={"name": "order.opened"}) \
        .status_code == 201
    assert client.post("/_sim/events", json={"name": "order.opened"},
                       headers={"tenant": "acme"}).status_code == 201
    with platform.store.read() as tx:
        assert len(deliveries.find(tx, "acme")) == 3
        assert deliveries.find(tx, "dodici") == []


def test_unknown_event_name_is_422(client):
    r = emit(client, name="order.exploded")
    assert r.status_code == 422
    assert r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["field"] == "name" and r.json()["error_code"] == "unknown_event"


def test_unknown_event_name_is_422_even_with_payload(client):
    assert emit(client, name="nope", payload={}).status_code == 422


@pytest.mark.parametrize("body", [
    {}, {"name": ""}, {"name": 3}, {"name": "order.opened", "count": 0},
    {"name": "order.opened", "count": 10001}, {"name": "order.opened", "count": "2"},
    {"name": "order.opened", "payload": [1]}, {"name": "order.opened", "payload": "x"},
    {"name": "order.opened", "set": ["a"]}, {"name": "order.opened", "colour": "red"},
    {"name": "order.opened", "tenant": "bad tenant"},
    {"name": "order.opened", "set": {"items.x.quantity": 1}},
    {"name": "order.opened", "set": {"": 1}},
    {"name": "order.opened", "set": {"a..b": 1}},
    {"name": "order.created", "payload": {"a": 1}, "set": {"a.b": 2}},
    [], "text", None,
])
def test_bad_bodies_are_4xx_problems(client, body):
    r = client.post("/_sim/events", json=body)
    assert 400 <= r.status_code < 500, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["detail"]


def test_not_json_is_a_4xx_problem(client):
    json_type = {"content-type": "application/json"}
    assert client.post("/_sim/events", content=b"{nope", headers=json_type).status_code == 400
    assert client.post("/_sim/events", content=b"\xff\xfe", headers=json_type).status_code == 400


def test_bad_tenant_query_is_400(client):
    assert client.post("/_sim/events?tenant=a%20b", json={"name": "order.opened"}) \
        .status_code == 400


# ---------------------------------------------------------------- control token

@pytest.fixture
def guarded():
    app = create_app(make_settings(dispatch=False, control_token="s3cret"))
    with app.test_client() as c:
        yield c


@pytest.mark.parametrize("path", ["/_sim/eventstream/deliveries", "/_sim/eventstream/latency",
                                  "/_sim/eventstream/attempts", "/_sim/eventstream/dead-letters"])
def test_control_token_guards_reads(guarded, path):
    r = guarded.get(path)
    assert r.status_code == 401 and r.headers["content-type"].startswith(PROBLEM)
    assert r.headers["www-authenticate"] == "Bearer"
    for wrong in ("Bearer nope", "Basic czNjcmV0", "Bearer"):
        r = guarded.get(path, headers={"Authorization": wrong})
        assert r.status_code == 403, wrong
        assert r.headers["content-type"].startswith(PROBLEM)
    assert guarded.get(path, headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_control_token_guards_emit(guarded):
    assert guarded.post("/_sim/events", json={"name": "order.opened"}).status_code == 401
    r = guarded.post("/_sim/events", json={"name": "order.opened"},
                     headers={"Authorization": "Bearer s3cret"})
    assert r.status_code == 201


def test_no_control_token_means_open_whatever_the_header(client):
    for headers in ({}, {"Authorization": "Bearer whatever"}, {"Authorization": "junk"}):
        assert client.get("/_sim/eventstream/latency", headers=headers).status_code == 200


def test_the_platform_token_is_not_a_control_token(guarded, auth):
    assert guarded.get("/_sim/eventstream/deliveries", headers=auth).status_code == 403


def test_control_docs_are_served(client):
    assert client.get("/_sim/docs/").status_code == 200
    spec = client.get("/_sim/openapi.json").json()
    assert "/events" in spec["paths"]


# ---------------------------------------------------------------- reads

@pytest.fixture
def published(client, platform):
    """Two integrations, three events: two order.opened and one order.cancelled."""
    add_integration(platform, "erp")
    add_integration(platform, "oms", filter_conditions={"event_filter": ["order.opened"]})
    opened = emit(client, name="order.opened", count=2).json()["events"]
    cancelled = emit(client, name="order.cancelled").json()["events"]
    return {"opened": [e["id"] for e in opened], "cancelled": cancelled[0]["id"]}


def test_list_deliveries_and_filters(client, published):
    every = client.get("/_sim/eventstream/deliveries").json()["deliveries"]
    assert len(every) == 5
    assert every[0]["event_id"] == published["cancelled"]  # newest event first
    r = client.get("/_sim/eventstream/deliveries", params={"integration_id": "oms"})
    assert {d["event_name"] for d in r.json()["deliveries"]} == {"order.opened"}
    assert len(r.json()["deliveries"]) == 2
    r = client.get("/_sim/eventstream/deliveries", params={"event_name": "order.cancelled"})
    assert [d["integration_id"] for d in r.json()["deliveries"]] == ["erp"]
    r = client.get("/_sim/eventstream/deliveries", params={"event_id": published["opened"][0]})
    assert sorted(d["integration_id"] for d in r.json()["deliveries"]) == ["erp", "oms"]
    r = client.get("/_sim/eventstream/deliveries", params={"status": "pending", "limit": 2})
    assert len(r.json()["deliveries"]) == 2
    r = client.get("/_sim/eventstream/deliveries", params={"limit": 2, "offset": 4})
    assert len(r.json()["deliveries"]) == 1
    r = client.get("/_sim/eventstream/deliveries", params={"status": "delivered"})
    assert r.json()["deliveries"] == []


@pytest.mark.parametrize("query", ["status=lost", "limit=0", "limit=1001", "offset=-1",
                                   "limit=x", "integration_id=", "colour=red"])
def test_bad_delivery_queries_are_400(client, query):
    r = client.get(f"/_sim/eventstream/deliveries?{query}")
    assert r.status_code == 400 and r.headers["content-type"].startswith(PROBLEM)


def test_other_tenant_sees_nothing(client, published):
    r = client.get("/_sim/eventstream/deliveries", params={"tenant": "acme"})
    assert r.json()["deliveries"] == []


def test_attempts_dead_letters_and_latency(client, platform, published):
    every = client.get("/_sim/eventstream/deliveries").json()["deliveries"]
    target = every[0]
    kill(platform, target["delivery_id"])
    r = client.get("/_sim/eventstream/attempts", params={"event_id": target["event_id"]})
    attempts = r.json()["attempts"]
    assert len(attempts) == 1 and attempts[0]["status_code"] == 500
    assert attempts[0]["delivery_id"] == target["delivery_id"]
    r = client.get("/_sim/eventstream/attempts", params={"delivery_id": target["delivery_id"],
                                                         "integration_id": "erp"})
    assert len(r.json()["attempts"]) == 1
    assert client.get("/_sim/eventstream/attempts",
                      params={"integration_id": "oms"}).json()["attempts"] == []
    dead = client.get("/_sim/eventstream/dead-letters").json()["dead_letters"]
    assert [d["delivery_id"] for d in dead] == [target["delivery_id"]]
    assert client.get("/_sim/eventstream/dead-letters",
                      params={"integration_id": "oms"}).json()["dead_letters"] == []
    latency = client.get("/_sim/eventstream/latency").json()["integrations"]
    assert [x["integration_id"] for x in latency] == ["erp"]
    assert latency[0]["published_to_first_attempt_ms"]["count"] == 1
    assert latency[0]["published_to_acknowledged_ms"]["count"] == 0
    assert client.get("/_sim/eventstream/latency",
                      params={"integration_id": "oms"}).json()["integrations"] == []


def test_latency_counts_acknowledged(client, platform, published):
    first = client.get("/_sim/eventstream/deliveries").json()["deliveries"][0]
    kill(platform, first["delivery_id"], status="delivered", code=200)
    latency = client.get("/_sim/eventstream/latency").json()["integrations"][0]
    assert latency["published_to_acknowledged_ms"]["count"] == 1
    assert latency["published_to_acknowledged_ms"]["p50"] >= 0


def test_redeliver_dead_letters(client, platform, published):
    every = client.get("/_sim/eventstream/deliveries").json()["deliveries"]
    by_integration = {}
    for d in every:
        by_integration.setdefault(d["integration_id"], d)
    for d in by_integration.values():
        kill(platform, d["delivery_id"])
    r = client.post("/_sim/eventstream/dead-letters/_redeliver", json={"integration_id": "oms"})
    assert r.status_code == 200 and r.json() == {"redelivered": 1}
    dead = client.get("/_sim/eventstream/dead-letters").json()["dead_letters"]
    assert [d["integration_id"] for d in dead] == ["erp"]
    r = client.post("/_sim/eventstream/dead-letters/_redeliver")
    assert r.json() == {"redelivered": 1}
    assert client.get("/_sim/eventstream/dead-letters").json()["dead_letters"] == []
    again = client.get("/_sim/eventstream/deliveries",
                       params={"event_id": by_integration["erp"]["event_id"],
                               "integration_id": "erp"}).json()["deliveries"][0]
    assert again["status"] == "pending" and again["attempts"] == 0
    assert client.post("/_sim/eventstream/dead-letters/_redeliver", json={}).json() \
        == {"redelivered": 0}


def test_redeliver_one_any_status(client, platform, published):
    d = client.get("/_sim/eventstream/deliveries").json()["deliveries"][0]
    kill(platform, d["delivery_id"], status="delivered", code=200)
    r = client.post(f"/_sim/eventstream/deliveries/{d['delivery_id']}/_redeliver")
    assert r.status_code == 200 and r.json() == {"redelivered": 1}
    again = client.get("/_sim/eventstream/deliveries",
                       params={"event_id": d["event_id"], "integration_id": d["integration_id"]}
                       ).json()["deliveries"][0]
    assert again["status"] == "pending" and again["attempts"] == 0
    # the attempt history is kept
    assert len(client.get("/_sim/eventstream/attempts",
                          params={"delivery_id": d["delivery_id"]}).json()["attempts"]) == 1


def test_redeliver_unknown_delivery_is_404(client, published):
    r = client.post("/_sim/eventstream/deliveries/999999/_redeliver")
    assert r.status_code == 404 and r.headers["content-type"].startswith(PROBLEM)
    # another tenant's delivery is unknown too
    r = client.post("/_sim/eventstream/deliveries/1/_redeliver?tenant=acme")
    assert r.status_code == 404


@pytest.mark.parametrize("path", ["/_sim/eventstream/deliveries/0/_redeliver",
                                  "/_sim/eventstream/deliveries/abc/_redeliver"])
def test_bad_delivery_id_is_4xx(client, path):
    r = client.post(path)
    assert 400 <= r.status_code < 500 and r.headers["content-type"].startswith(PROBLEM)


def test_redeliver_dead_letters_bad_body(client):
    r = client.post("/_sim/eventstream/dead-letters/_redeliver", json={"integration": "x"})
    assert r.status_code == 400 and r.headers["content-type"].startswith(PROBLEM)
