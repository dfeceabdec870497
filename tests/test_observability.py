"""NewStore's event observability API: published events per integration, and retry."""

from __future__ import annotations

from datetime import timedelta, timezone
from typing import Any

import pytest

from simulator.core.clock import iso
from simulator.eventstream import deliveries
from tests.conftest import make_settings
from tests.test_control_events import add_integration, kill

PROBLEM = "application/problem+json"
URL = "/api/v1/org/eventstream/events"


@pytest.fixture
def settings():
    return make_settings(dispatch=False)


@pytest.fixture
def world(client, platform):
    """erp gets everything, oms only order.opened; one delivery acknowledged, one dead,
    one failed once and pending again."""
    add_integration(platform, "erp")
    add_integration(platform, "oms", filter_conditions={"event_filter": ["order.opened"]})
    opened = client.post("/_sim/events", json={"name": "order.opened", "payload": {
        "id": "order-1", "items": []}}).json()["events"][0]
    cancelled = client.post("/_sim/events", json={"name": "order.cancelled", "payload": {
        "id": "order-2"}}).json()["events"][0]
    refund = client.post("/_sim/events", json={"name": "refund_request.issued", "payload": {
        "id": "refund-1"}}).json()["events"][0]
    with platform.store.read() as tx:
        rows = {(d["event_id"], d["integration_id"]): d["delivery_id"]
                for d in deliveries.find(tx, "dodici")}
    kill(platform, rows[(opened["id"], "erp")], status="delivered", code=200)
    kill(platform, rows[(opened["id"], "oms")], status="dead", code=500)
    kill(platform, rows[(cancelled["id"], "erp")], status="pending", code=503)
    return {"opened": opened, "cancelled": cancelled, "refund": refund, "rows": rows}


def get(client: Any, auth: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    r = client.get(URL, headers=auth, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_every_event_per_integration(client, auth, world):
    found = get(client, auth)
    assert len(found) == 4
    assert found[0]["id"] == world["refund"]["id"]  # newest first
    state = {(e["id"], e["integration_id"]): e for e in found}
    ok = state[(world["opened"]["id"], "erp")]
    assert ok["status"] == "success" and ok["last_status_code"] == 200
    assert ok["acknowledged_at"] and ok["first_attempt_at"] and ok["attempts"] == 1
    assert ok["name"] == "order.opened" and ok["domain_entity_type"] == "order"
    assert ok["domain_entity_id"] == "order-1"
    assert state[(world["opened"]["id"], "oms")]["status"] == "failure"
    failing = state[(world["cancelled"]["id"], "erp")]
    assert failing["status"] == "failure" and failing["last_status_code"] == 503
    assert failing["acknowledged_at"] is None
    fresh = state[(world["refund"]["id"], "erp")]
    assert fresh["status"] == "pending" and fresh["attempts"] == 0
    assert fresh["first_attempt_at"] is None


def test_filter_by_status(client, auth, world):
    assert [(e["id"], e["integration_id"]) for e in get(client, auth, status="success")] == \
        [(world["opened"]["id"], "erp")]
    failures = get(client, auth, status="failure")
    assert sorted((e["name"], e["integration_id"]) for e in failures) == \
        [("order.cancelled", "erp"), ("order.opened", "oms")]


def test_filter_by_name_integration_and_entity(client, auth, world):
    assert {e["integration_id"] for e in get(client, auth, event_name="order.opened")} == \
        {"erp", "oms"}
    assert [e["name"] for e in get(client, auth, integration_id="oms")] == ["order.opened"]
    assert [e["id"] for e in get(client, auth, domain_entity_id="order-2")] == \
        [world["cancelled"]["id"]]
    assert [e["name"] for e in get(client, auth, domain_entity_type="refund_request")] == \
        ["refund_request.issued"]
    assert get(client, auth, domain_entity_type="order", domain_entity_id="refund-1") == []
    assert len(get(client, auth, limit=2)) == 2


def test_filter_by_time(client, auth, platform, world):
    published = world["opened"]["published_at"]
    assert len(get(client, auth, **{"from": published})) == 4
    later = iso(platform.clock.now() + timedelta(hours=1))
    assert get(client, auth, **{"from": later}) == []
    earlier = iso(platform.clock.now() - timedelta(hours=1))
    assert get(client, auth, to=earlier) == []
    assert len(get(client, auth, **{"from": earlier, "to": later})) == 4
    # offsets are converted to UTC before comparing: this reads later than now, but is not
    plus_two = (platform.clock.now() - timedelta(minutes=30)).astimezone(
        timezone(timedelta(hours=2))).isoformat()
    assert get(client, auth, to=plus_two) == []


def test_other_tenant_sees_none(client, world):
    from tests.conftest import get_token
    headers = {"Authorization": f"Bearer {get_token(client, 'acme')}", "tenant": "acme"}
    assert get(client, headers) == []


@pytest.mark.parametrize("query", ["status=pending", "status=delivered", "from=yesterday",
                                   "to=2026-13-01T00:00:00Z", "limit=0", "limit=1001",
                                   "event_name=", "colour=red"])
def test_bad_queries_are_400(client, auth, query):
    r = client.get(f"{URL}?{query}", headers=auth)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith(PROBLEM)


def test_needs_a_token(client):
    assert client.get(URL).status_code == 401
    assert client.get(URL, headers={"Authorization": "Bearer nope"}).status_code == 403
    assert client.post(f"{URL}/x/_retry").status_code == 401


def test_retry_every_delivery_of_an_event(client, auth, platform, world):
    event_id = world["opened"]["id"]
    r = client.post(f"{URL}/{event_id}/_retry", headers=auth)
    assert r.status_code == 202 and r.json() == {"retried": 2}
    for e in get(client, auth, event_name="order.opened"):
        assert e["attempts"] == 0 and e["status"] == "pending"
    with platform.store.read() as tx:
        rows = deliveries.find(tx, "dodici", event_id=event_id)
    assert {d["status"] for d in rows} == {"pending"}


def test_retry_one_integration(client, auth, world):
    event_id = world["opened"]["id"]
    r = client.post(f"{URL}/{event_id}/_retry", headers=auth, json={"integration_id": "oms"})
    assert r.status_code == 202 and r.json() == {"retried": 1}
    state = {e["integration_id"]: e["status"] for e in get(client, auth, event_name="order.opened")}
    assert state == {"erp": "success", "oms": "pending"}


def test_retry_unknown_event_or_integration_is_404(client, auth, world):
    r = client.post(f"{URL}/no-such-event/_retry", headers=auth)
    assert r.status_code == 404 and r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["error_code"] == "resource_not_found"
    r = client.post(f"{URL}/{world['cancelled']['id']}/_retry", headers=auth,
                    json={"integration_id": "oms"})
    assert r.status_code == 404 and r.json()["field"] == "integration_id"


@pytest.mark.parametrize("body", [{"integration_id": ""}, {"integration": "x"}, [1], "x"])
def test_retry_bad_body_is_400(client, auth, world, body):
    r = client.post(f"{URL}/{world['opened']['id']}/_retry", headers=auth, json=body)
    assert r.status_code == 400 and r.headers["content-type"].startswith(PROBLEM)
