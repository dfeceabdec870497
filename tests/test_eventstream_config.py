"""Event Stream configuration API: /api/v1/org/integrations/eventstream."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest

from simulator.core.clock import iso
from simulator.eventstream import integrations, outbox
from tests.conftest import get_token, make_settings

BASE = "/api/v1/org/integrations/eventstream"
URL = "https://hooks.example.test/newstore"
CB = "callback_parameters.callback_url"
_ids = itertools.count(1)


@pytest.fixture
def settings():
    # manual clock: time moves only when a test moves it; no dispatcher touching deliveries
    return make_settings(clock_mode="manual", dispatch=False)


def body(id: str = "erp-hook", **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"id": id, "integration_type": "permanent",
                           "callback_parameters": {"callback_url": URL, "api_key": "secret-1"}}
    doc.update(extra)
    return doc


def register(client, auth, **extra: Any) -> dict[str, Any]:
    r = client.post(BASE, json=body(**extra), headers=auth)
    assert r.status_code == 201, r.text
    return r.json()


def publish(platform, name: str, *, tenant: str = "dodici", at=None) -> outbox.Event:
    with platform.store.tx() as tx:
        return outbox.publish(tx, tenant, name, {"id": f"entity-{next(_ids)}"},
                              event_id=f"evt-{next(_ids)}",
                              published_at=at or platform.clock.now())


def statuses(platform, integration_id: str, tenant: str = "dodici") -> list[str]:
    with platform.store.read() as tx:
        rows = tx.conn.execute(
            "SELECT status FROM deliveries WHERE tenant=? AND integration_id=? ORDER BY id",
            (tenant, integration_id)).fetchall()
    return [row[0] for row in rows]


def assert_problem(r, status: int, field: str | None = None, code: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["detail"]
    if field is not None:
        assert problem.get("field") == field, problem
    if code is not None:
        assert problem["error_code"] == code, problem
    return problem


# -- register -----------------------------------------------------------------------------

def test_register_starts_the_integration_with_defaults(client, auth, platform):
    now = iso(platform.clock.now())
    doc = register(client, auth, filter_conditions={"event_filter": ["order.opened"]})
    assert doc["id"] == "erp-hook"
    assert doc["tenant"] == "dodici"
    assert doc["status"] == "running"
    assert doc["stopped_reason"] is None
    assert doc["consecutive_failures"] == 0
    assert doc["integration_type"] == "permanent"
    assert doc["callback_parameters"] == {"callback_url": URL, "api_key": "secret-1"}
    assert doc["starts_at"] == now and doc["created_at"] == now and doc["updated_at"] == now
    assert doc["ends_at"] is None
    assert doc["filter_conditions"] == {"event_filter": ["order.opened"], "entity_filter": []}
    assert doc["simulator"] == {}
    assert doc["delivery"] == {"pending": 0, "held": 0, "delivered": 0, "dead": 0}


def test_register_as_the_real_clients_send_it(client, auth):
    r = client.post(BASE, headers=auth, json={
        "id": "netsuite", "integration_type": "permanent",
        "callback_parameters": {"callback_url": "http://erp.test/events", "api_key": "k"},
        "starts_at": "2020-01-01T00:00:00+00:00",
        "filter_conditions": {"event_filter": ["order.opened", "return.processed"],
                              "entity_filter": []}})
    assert r.status_code == 201, r.text
    assert r.json()["starts_at"] == "2020-01-01T00:00:00.000Z"


def test_timestamps_are_normalised_to_utc_milliseconds(client, auth, platform):
    now = platform.clock.now()
    doc = register(client, auth, integration_type="temporary",
                   starts_at=(now - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S+02:00"),
                   ends_at="2099-01-01T00:00:00.123456")
    assert doc["starts_at"].endswith("Z") and len(doc["starts_at"]) == 24
    assert doc["ends_at"] == "2099-01-01T00:00:00.123Z"


def test_register_stores_the_document_for_the_dispatcher(client, auth, platform):
    register(client, auth, simulator={"retry_profile": "fast", "timeout_seconds": 2.5,
                                      "pause_after_failures": 3,
                                      "chaos": {"duplicate_rate": 0.1, "latency_ms": 5}})
    with platform.store.read() as tx:
        doc = tx.get("dodici", outbox.INTEGRATION, "erp-hook")
    assert doc["simulator"] == {"retry_profile": "fast", "timeout_seconds": 2.5,
                                "pause_after_failures": 3,
                                "chaos": {"duplicate_rate": 0.1, "latency_ms": 5}}
    assert "delivery" not in doc
    assert doc["status"] == "running"


def test_custom_retry_profile_is_accepted(client, auth):
    doc = register(client, auth,
                   simulator={"retry_profile": {"delays": [1, 2.5, 10], "jitter": 0.5}})
    assert doc["simulator"]["retry_profile"] == {"delays": [1, 2.5, 10], "jitter": 0.5}


def test_duplicate_id_is_a_conflict(client, auth):
    register(client, auth)
    r = client.post(BASE, json=body(), headers=auth)
    assert_problem(r, 409, code="integration_already_exists")


def test_at_most_25_integrations_including_stopped_and_temporary(client, auth, platform):
    far = iso(platform.clock.now() + timedelta(days=30))
    for n in range(25):
        extra = {"integration_type": "temporary", "ends_at": far} if n % 5 == 0 else {}
        register(client, auth, id=f"hook-{n}", **extra)
        if n % 3 == 0:
            assert client.post(f"{BASE}/hook-{n}/_stop", headers=auth).status_code == 200
    r = client.post(BASE, json=body(id="hook-25"), headers=auth)
    assert_problem(r, 409, code="integration_limit_reached")
    assert client.delete(f"{BASE}/hook-0", headers=auth).status_code == 204
    register(client, auth, id="hook-25")
    assert len(client.get(BASE, headers=auth).json()["integrations"]) == 25


@pytest.mark.parametrize("change, field", [
    ({"id": ""}, "id"),
    ({"id": "has space"}, "id"),
    ({"id": "x" * 65}, "id"),
    ({"id": "slash/no"}, "id"),
    ({"callback_parameters": {"callback_url": "ftp://x.test/"}}, CB),
    ({"callback_parameters": {"callback_url": "not a url"}}, "callback_parameters.callback_url"),
    ({"callback_parameters": {"callback_url": "https://"}}, "callback_parameters.callback_url"),
    ({"callback_parameters": {"callback_url": "http://h.test:99999/"}},
     "callback_parameters.callback_url"),
    ({"starts_at": "yesterday"}, "starts_at"),
    ({"ends_at": "2099-01-01T00:00:00Z"}, "ends_at"),
    ({"integration_type": "temporary"}, "ends_at"),
    ({"integration_type": "temporary", "starts_at": "2030-01-02T00:00:00Z",
      "ends_at": "2030-01-01T00:00:00Z"}, "ends_at"),
    ({"filter_conditions": {"event_filter": ["Order Opened"]}}, "filter_conditions.event_filter"),
    ({"filter_conditions": {"entity_filter": ["Order!"]}}, "filter_conditions.entity_filter"),
    ({"simulator": {"retry_profile": "slow"}}, "simulator.retry_profile"),
    ({"simulator": {"retry_profile": {"delays": [-1]}}}, "simulator.retry_profile.delays"),
    ({"simulator": {"retry_profile": {"delays": [1], "jitter": 2}}},
     "simulator.retry_profile.jitter"),
    ({"simulator": {"timeout_seconds": 0}}, "simulator.timeout_seconds"),
    ({"simulator": {"timeout_seconds": 121}}, "simulator.timeout_seconds"),
    ({"simulator": {"pause_after_failures": 0}}, "simulator.pause_after_failures"),
    ({"simulator": {"chaos": {"duplicate_rate": 1.5}}}, "simulator.chaos.duplicate_rate"),
    ({"simulator": {"chaos": {"latency_ms": -1}}}, "simulator.chaos.latency_ms"),
    ({"simulator": {"chaos": {"out_of_order_window_ms": -5}}},
     "simulator.chaos.out_of_order_window_ms"),
])
def test_invalid_registration_names_the_field(client, auth, change, field):
    r = client.post(BASE, json=body(**change), headers=auth)
    assert_problem(r, 400, field=field)
    assert client.get(BASE, headers=auth).json()["integrations"] == []


@pytest.mark.parametrize("payload", [
    None, [], "x", {"id": "a"}, {"callback_parameters": {"callback_url": URL}},
    {"id": 5, "callback_parameters": {"callback_url": URL}},
    {"id": "a", "callback_parameters": {"callback_url": URL}, "bogus": 1},
    {"id": "a", "callback_parameters": {}},
    {"id": "a", "callback_parameters": {"callback_url": URL, "api_key": 3}},
    {"id": "a", "callback_parameters": {"callback_url": URL}, "integration_type": "forever"},
    {"id": "a", "callback_parameters": {"callback_url": URL}, "filter_conditions": ["order"]},
    {"id": "a", "callback_parameters": {"callback_url": URL},
     "filter_conditions": {"event_filter": "order.opened"}},
    {"id": "a", "callback_parameters": {"callback_url": URL}, "simulator": {"retry_profile": 3}},
    {"id": "a", "callback_parameters": {"callback_url": URL}, "simulator": {"nope": 1}},
    {"id": "a", "callback_parameters": {"callback_url": URL},
     "starts_at": "0001-01-01T00:00:00+05:00"},
])
def test_malformed_registration_is_a_problem_never_a_500(client, auth, payload):
    r = client.post(BASE, json=payload, headers=auth)
    assert_problem(r, 400)


def test_non_json_body_is_a_problem(client, auth):
    r = client.post(BASE, content=b"{not json",
                    headers={**auth, "Content-Type": "application/json"})
    assert_problem(r, 400)


def test_requires_a_token(client):
    r = client.get(BASE)
    assert_problem(r, 401)


# -- list and get --------------------------------------------------------------------------

def test_list_answers_every_integration_oldest_first(client, auth, platform):
    assert client.get(BASE, headers=auth).json() == {"integrations": []}
    register(client, auth, id="first")
    platform.clock.advance(1)
    register(client, auth, id="second")
    client.post(f"{BASE}/first/_stop", headers=auth)
    listed = client.get(BASE, headers=auth).json()["integrations"]
    assert [i["id"] for i in listed] == ["first", "second"]
    assert [i["status"] for i in listed] == ["stopped", "running"]
    assert all("delivery" in i for i in listed)


def test_get_answers_status_and_delivery_counts(client, auth, platform):
    register(client, auth)
    publish(platform, "order.opened")
    r = client.get(f"{BASE}/erp-hook", headers=auth)
    assert r.status_code == 200
    doc = r.json()
    assert doc["status"] == "running"
    assert doc["callback_parameters"]["api_key"] == "secret-1"
    assert doc["delivery"] == {"pending": 1, "held": 0, "delivered": 0, "dead": 0}


@pytest.mark.parametrize("method, suffix", [
    ("get", ""), ("patch", ""), ("delete", ""), ("post", "/_start"), ("post", "/_stop")])
def test_unknown_id_is_resource_not_found(client, auth, method, suffix):
    kwargs: dict[str, Any] = {"json": {}} if method in ("patch", "post") else {}
    r = getattr(client, method)(f"{BASE}/missing{suffix}", headers=auth, **kwargs)
    problem = assert_problem(r, 404, code="resource_not_found")
    assert "resource_not_found" in problem["detail"]


# -- patch ---------------------------------------------------------------------------------

def test_patch_merges_callback_parameters(client, auth, platform):
    register(client, auth)
    platform.clock.advance(5)
    r = client.patch(f"{BASE}/erp-hook", headers=auth,
                     json={"callback_parameters": {"callback_url": "https://new.test/hook"}})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["callback_parameters"] == {"callback_url": "https://new.test/hook",
                                          "api_key": "secret-1"}
    assert doc["updated_at"] > doc["created_at"]
    assert client.get(f"{BASE}/erp-hook", headers=auth).json()["callback_parameters"][
        "callback_url"] == "https://new.test/hook"
    r = client.patch(f"{BASE}/erp-hook", headers=auth,
                     json={"callback_parameters": {"api_key": None}})
    assert r.json()["callback_parameters"] == {"callback_url": "https://new.test/hook"}


def test_patch_filters_ends_at_and_simulator(client, auth, platform):
    register(client, auth, integration_type="temporary", ends_at="2099-01-01T00:00:00Z",
             filter_conditions={"event_filter": ["order.opened"], "entity_filter": ["order"]},
             simulator={"retry_profile": "fast", "timeout_seconds": 3})
    r = client.patch(f"{BASE}/erp-hook", headers=auth, json={
        "filter_conditions": {"event_filter": ["return.*"]},
        "ends_at": "2098-06-01T12:00:00Z",
        "simulator": {"timeout_seconds": None, "pause_after_failures": 2}})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["filter_conditions"] == {"event_filter": ["return.*"], "entity_filter": ["order"]}
    assert doc["ends_at"] == "2098-06-01T12:00:00.000Z"
    assert doc["simulator"] == {"retry_profile": "fast", "pause_after_failures": 2}


def test_patch_same_id_is_accepted_changing_it_is_refused(client, auth):
    register(client, auth)
    assert client.patch(f"{BASE}/erp-hook", json={"id": "erp-hook"},
                        headers=auth).status_code == 200
    r = client.patch(f"{BASE}/erp-hook", json={"id": "other"}, headers=auth)
    assert_problem(r, 400, field="id", code="immutable_field")
    r = client.patch(f"{BASE}/erp-hook", json={"integration_type": "temporary"}, headers=auth)
    assert_problem(r, 400, field="integration_type")
    r = client.patch(f"{BASE}/erp-hook", json={"starts_at": "2001-01-01T00:00:00Z"}, headers=auth)
    assert_problem(r, 400, field="starts_at")
    assert client.get(f"{BASE}/other", headers=auth).status_code == 404


@pytest.mark.parametrize("change, field", [
    ({"callback_parameters": {"callback_url": "mailto:a@b.c"}}, "callback_parameters.callback_url"),
    ({"ends_at": "2099-01-01T00:00:00Z"}, "ends_at"),
    ({"simulator": {"retry_profile": "nope"}}, "simulator.retry_profile"),
    ({"simulator": {"timeout_seconds": 500}}, "simulator.timeout_seconds"),
    ({"filter_conditions": {"event_filter": ["bad name"]}}, "filter_conditions.event_filter"),
])
def test_invalid_patch_names_the_field_and_changes_nothing(client, auth, change, field):
    before = register(client, auth)
    r = client.patch(f"{BASE}/erp-hook", json=change, headers=auth)
    assert_problem(r, 400, field=field)
    assert client.get(f"{BASE}/erp-hook", headers=auth).json() == before


def test_temporary_integration_cannot_lose_its_end(client, auth):
    register(client, auth, integration_type="temporary", ends_at="2099-01-01T00:00:00Z")
    r = client.patch(f"{BASE}/erp-hook", json={"ends_at": None}, headers=auth)
    assert_problem(r, 400, field="ends_at")


@pytest.mark.parametrize("payload", [None, [], "x", {"bogus": 1},
                                     {"callback_parameters": "x"}, {"simulator": []}])
def test_malformed_patch_is_a_problem(client, auth, payload):
    register(client, auth)
    r = client.patch(f"{BASE}/erp-hook", json=payload, headers=auth)
    assert_problem(r, 400)


# -- start, stop, delete and deliveries ---------------------------------------------------

def test_stop_holds_and_start_releases_deliveries(client, auth, platform):
    register(client, auth)
    publish(platform, "order.opened")
    assert statuses(platform, "erp-hook") == ["pending"]
    r = client.post(f"{BASE}/erp-hook/_stop", json={}, headers=auth)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["status"] == "stopped" and doc["stopped_reason"] == "manual"
    assert doc["delivery"]["held"] == 1
    assert statuses(platform, "erp-hook") == ["held"]
    publish(platform, "order.completed")  # published while stopped: queued, held
    assert statuses(platform, "erp-hook") == ["held", "held"]
    with platform.store.tx() as tx:
        tx.conn.execute("UPDATE entities SET doc=json_set(doc, '$.consecutive_failures', 7)"
                        " WHERE kind=? AND id='erp-hook'", (outbox.INTEGRATION,))
    r = client.post(f"{BASE}/erp-hook/_start", headers=auth)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["status"] == "running" and doc["stopped_reason"] is None
    assert doc["consecutive_failures"] == 0
    assert doc["delivery"] == {"pending": 2, "held": 0, "delivered": 0, "dead": 0}
    with platform.store.read() as tx:
        due = [row[0] for row in tx.conn.execute(
            "SELECT due_at FROM deliveries WHERE integration_id='erp-hook'")]
    assert all(d <= platform.clock.now().timestamp() for d in due)


def test_start_and_stop_are_idempotent(client, auth):
    register(client, auth)
    assert client.post(f"{BASE}/erp-hook/_start", headers=auth).json()["status"] == "running"
    client.post(f"{BASE}/erp-hook/_stop", headers=auth)
    again = client.post(f"{BASE}/erp-hook/_stop", json={}, headers=auth).json()
    assert again["status"] == "stopped" and again["stopped_reason"] == "manual"


def test_stop_for_the_dispatcher_keeps_the_first_reason(platform):
    now = platform.clock.now()
    with platform.store.tx() as tx:
        integrations.register(tx, "dodici", body(), now)
        doc = integrations.stop(tx, "dodici", "erp-hook", now, reason="consecutive_failures")
        assert doc["stopped_reason"] == "consecutive_failures"
        doc = integrations.stop(tx, "dodici", "erp-hook", now)
        assert doc["stopped_reason"] == "consecutive_failures"
        with pytest.raises(ValueError):
            integrations.stop(tx, "dodici", "erp-hook", now, reason="bored")


def test_delete_removes_the_integration_and_its_deliveries(client, auth, platform):
    register(client, auth)
    register(client, auth, id="keeper")
    publish(platform, "order.opened")
    assert statuses(platform, "erp-hook") == ["pending"]
    r = client.delete(f"{BASE}/erp-hook", headers=auth)
    assert r.status_code == 204
    assert statuses(platform, "erp-hook") == []
    assert statuses(platform, "keeper") == ["pending"]
    assert_problem(client.get(f"{BASE}/erp-hook", headers=auth), 404)
    assert_problem(client.delete(f"{BASE}/erp-hook", headers=auth), 404)


# -- replay and filters --------------------------------------------------------------------

def test_past_starts_at_replays_retained_events(client, auth, platform):
    now = platform.clock.now()
    publish(platform, "order.opened", at=now - timedelta(hours=3))
    publish(platform, "order.opened", at=now - timedelta(hours=1))
    publish(platform, "return.processed", at=now - timedelta(minutes=30))
    doc = register(client, auth, starts_at=iso(now - timedelta(hours=2)),
                   filter_conditions={"event_filter": ["order.*"]})
    assert doc["delivery"]["pending"] == 1
    assert statuses(platform, "erp-hook") == ["pending"]
    everything = register(client, auth, id="all", starts_at=iso(now - timedelta(days=1)))
    assert everything["delivery"]["pending"] == 3


def test_temporary_replay_takes_only_its_window(client, auth, platform):
    now = platform.clock.now()
    for hours in (5, 3, 2, 1):
        publish(platform, "order.opened", at=now - timedelta(hours=hours))
    doc = register(client, auth, integration_type="temporary",
                   starts_at=iso(now - timedelta(hours=4)),
                   ends_at=iso(now - timedelta(minutes=90)))
    assert doc["delivery"]["pending"] == 2
    publish(platform, "order.opened")  # after the window
    assert len(statuses(platform, "erp-hook")) == 2


def test_future_starts_at_replays_nothing_and_waits(client, auth, platform):
    now = platform.clock.now()
    publish(platform, "order.opened", at=now - timedelta(hours=1))
    doc = register(client, auth, starts_at=iso(now + timedelta(hours=1)))
    assert doc["delivery"]["pending"] == 0
    publish(platform, "order.opened")
    assert statuses(platform, "erp-hook") == []
    publish(platform, "order.opened", at=now + timedelta(hours=2))
    assert statuses(platform, "erp-hook") == ["pending"]


def test_filters_apply_at_publish_time(client, auth, platform):
    register(client, auth, id="events", filter_conditions={"event_filter": ["order.opened",
                                                                           "return.*"]})
    register(client, auth, id="entities",
             filter_conditions={"entity_filter": ["payment_account", "refund_request"]})
    register(client, auth, id="both", filter_conditions={"event_filter": ["order.*"],
                                                         "entity_filter": ["return"]})
    register(client, auth, id="everything")
    for name in ("order.opened", "order.completed", "return.processed",
                 "payment_account.amount_refunded", "refund_request.issued"):
        publish(platform, name)
    counts = {i["id"]: i["delivery"]["pending"]
              for i in client.get(BASE, headers=auth).json()["integrations"]}
    assert counts == {"events": 2, "entities": 2, "both": 0, "everything": 5}


def test_filter_change_applies_to_later_events(client, auth, platform):
    register(client, auth, filter_conditions={"event_filter": ["order.opened"]})
    publish(platform, "return.processed")
    assert statuses(platform, "erp-hook") == []
    client.patch(f"{BASE}/erp-hook", json={"filter_conditions": {"event_filter": []}},
                 headers=auth)
    publish(platform, "return.processed")
    assert statuses(platform, "erp-hook") == ["pending"]


# -- tenants -------------------------------------------------------------------------------

def test_tenants_do_not_see_each_other(client, auth, platform):
    register(client, auth)
    other = {"Authorization": f"Bearer {get_token(client, 'acme')}", "tenant": "acme"}
    assert client.get(BASE, headers=other).json() == {"integrations": []}
    assert_problem(client.get(f"{BASE}/erp-hook", headers=other), 404)
    assert_problem(client.post(f"{BASE}/erp-hook/_stop", headers=other), 404)
    r = client.post(BASE, json=body(), headers=other)  # the same id in another tenant
    assert r.status_code == 201 and r.json()["tenant"] == "acme"
    publish(platform, "order.opened", tenant="acme")
    assert statuses(platform, "erp-hook", "acme") == ["pending"]
    assert statuses(platform, "erp-hook", "dodici") == []
    assert client.get(f"{BASE}/erp-hook", headers=auth).json()["status"] == "running"
