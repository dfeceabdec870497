"""The journal: incoming calls (redacted, with clipped bodies), webhook attempts, filters,
clearing, and the writer itself."""

from __future__ import annotations

import json
import time

import pytest
import requests

from simulator.core import journal
from simulator.core.store import Store
from simulator.settings import Settings
from tests.conftest import make_settings
from tests.server import running_server, server_token

ORDER = "/v0/orders/012345Ab-CdEf-GhIj-KlMn-OpQrStUvWxYz"


def _entries(client, **params) -> list[dict]:
    r = client.get("/_sim/journal", params=params)
    assert r.status_code == 200, r.text
    return r.json()["entries"]


def test_incoming_call_is_recorded_with_redacted_auth(client, auth):
    r = client.get(ORDER, headers={**auth, "Cookie": "session=abc", "X-Trace": "t-1"})
    assert r.status_code == 200
    [entry] = _entries(client, path_contains="/v0/orders/")
    assert entry["direction"] == "in" and entry["system"] == "platform"
    assert entry["method"] == "GET" and entry["url"] == ORDER
    assert entry["tenant"] == "dodici" and entry["status"] == 200
    assert entry["operation_id"] == "orders.get_order"
    assert entry["duration_ms"] > 0
    headers = entry["request_headers"]
    assert headers["authorization"] == "[redacted]" and headers["cookie"] == "[redacted]"
    assert headers["x-trace"] == "t-1"
    assert auth["Authorization"].split()[1] not in json.dumps(entry)
    assert "response_body" not in entry  # bodies only when asked for
    [full] = _entries(client, path_contains="/v0/orders/", with_bodies="true")
    assert json.loads(full["response_body"]) == r.json()


def test_final_status_of_refused_calls_and_control_calls_are_recorded(client):
    assert client.get(ORDER).status_code == 401  # refused by the security layer
    assert client.post("/_sim/clock/advance", json={"seconds": -1}).status_code == 422
    [refused] = _entries(client, status=401)
    assert refused["url"] == ORDER and refused["system"] == "platform"
    [control] = _entries(client, system="control", method="post")
    assert control["status"] == 422 and control["url"] == "/_sim/clock/advance"
    assert control["operation_id"] == "clock.advance"
    [full] = _entries(client, system="control", with_bodies="true")
    assert full["request_body"] == '{"seconds":-1}' or json.loads(full["request_body"]) == {
        "seconds": -1}
    assert json.loads(full["response_body"])["field"] == "seconds"


def test_health_docs_and_the_journal_itself_are_not_recorded(client):
    client.get("/health")
    client.get("/openapi.json")
    _entries(client)
    client.delete("/_sim/journal")
    assert _entries(client) == []


def test_filters_paging_and_time_window(client, auth):
    client.put("/_sim/clock", json={"mode": "manual"})
    client.get(ORDER, headers=auth)
    client.post("/_sim/clock/advance", json={"seconds": 60})
    middle = client.get("/_sim/clock").json()["now"]
    client.get(ORDER + "x", headers=auth)  # 404
    everything = _entries(client)
    assert [e["seq"] for e in everything] == sorted((e["seq"] for e in everything),
                                                    reverse=True)  # newest first
    assert [e["status"] for e in _entries(client, path_contains="/v0/orders/")] == [404, 200]
    assert [e["status"] for e in _entries(client, path_contains="/v0/orders/",
                                          since=middle)] == [404]
    assert [e["status"] for e in _entries(client, path_contains="/v0/orders/",
                                          until=middle)] == [200]
    assert len(_entries(client, limit=1)) == 1
    assert _entries(client, limit=1, offset=1)[0]["seq"] == everything[1]["seq"]
    assert _entries(client, direction="out") == []
    assert all(e["system"] == "control" for e in _entries(client, system="control"))
    assert _entries(client, tenant="elsewhere") == []


@pytest.mark.parametrize("params, status", [
    ({"since": "yesterday"}, 422), ({"until": "2026-13-01"}, 422), ({"limit": 0}, 400),
    ({"limit": "all"}, 400), ({"direction": "sideways"}, 400), ({"status": 99}, 400),
    ({"with_bodies": "maybe"}, 400), ({"tenant": "bad tenant"}, 400),
])
def test_bad_journal_queries_are_4xx_problems(client, params, status):
    r = client.get("/_sim/journal", params=params)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["detail"]


def test_delete_clears_only_the_tenants_journal(client, auth):
    client.get(ORDER, headers=auth)
    client.get(ORDER, headers={"tenant": "other"})
    r = client.delete("/_sim/journal")
    assert r.status_code == 200 and r.json()["deleted"] >= 1
    assert _entries(client) == []
    assert len(_entries(client, tenant="other")) == 1
    assert client.delete("/_sim/journal", params={"tenant": "bad tenant"}).status_code == 400


def test_bodies_are_clipped_and_the_journal_can_be_off():
    from simulator.app import create_app

    app = create_app(make_settings(journal_body_limit=8))
    with app.test_client() as c:
        c.post("/_sim/events", json={"name": "order.opened", "count": 1})
        [entry] = c.get("/_sim/journal", params={"with_bodies": "true"}).json()["entries"]
        assert entry["request_body"].endswith("…[truncated]")
        assert len(entry["request_body"].split("…")[0].encode()) <= 8
    assert Settings.from_env({"SIM_JOURNAL": "false"}).journal is False
    assert Settings.from_env({"SIM_JOURNAL_BODY_LIMIT": "10"}).journal_body_limit == 10
    app = create_app(make_settings(journal=False))
    with app.test_client() as c:
        c.get("/_sim/clock")
        assert c.get("/_sim/journal").json() == {"entries": []}


def test_writer_batches_in_the_background_and_flushes_on_stop():
    store = Store(":memory:")
    writer = journal.JournalWriter(store)
    writer.add(journal.Entry(ts=1.0, direction="in", system="platform", method="GET",
                             url="/sync", tenant="t"))
    with store.read() as tx:  # not started: written at once
        assert [e["url"] for e in journal.query(tx, tenant="t")] == ["/sync"]
    writer.start()
    for i in range(50):
        writer.add(journal.Entry(ts=2.0 + i, direction="out", system="webhook",
                                 method="POST", url=f"http://sink/{i}", tenant="t"))
    writer.stop()
    with store.read() as tx:
        assert len(journal.query(tx, tenant="t", direction="out", limit=1000)) == 50
        [last] = journal.query(tx, tenant="t", path_contains="sink/49")
        assert last["at"] == "1970-01-01T00:00:51.000Z"
    assert journal.redact([("Authorization", "Bearer x"), ("A", "1"), ("a", "2")]) == {
        "authorization": "[redacted]", "a": "1, 2"}


def test_webhook_attempts_are_journaled(tmp_path, httpserver):
    httpserver.expect_ordered_request("/hook").respond_with_data("nope", status=500)
    httpserver.expect_ordered_request("/hook").respond_with_data("thanks", status=200)
    settings = make_settings(db=str(tmp_path / "sim.db"), retry_profile="fast")
    with running_server(settings) as url:
        headers = {"tenant": "jt", "Authorization": f"Bearer {server_token(url, 'jt')}"}
        r = requests.post(f"{url}/api/v1/org/integrations/eventstream", headers=headers, json={
            "id": "erp", "callback_parameters": {"callback_url": httpserver.url_for("/hook"),
                                                 "api_key": "s3cret"}}, timeout=10)
        assert r.status_code in (200, 201), r.text
        r = requests.post(f"{url}/_sim/events", headers={"tenant": "jt"}, timeout=10,
                          json={"name": "order.opened", "payload": {"id": "o-1"}})
        event = r.json()["events"][0]
        deadline = time.monotonic() + 10
        out: list[dict] = []
        while len(out) < 2 and time.monotonic() < deadline:
            out = requests.get(f"{url}/_sim/journal", timeout=10, params={
                "tenant": "jt", "direction": "out", "with_bodies": "true"}).json()["entries"]
            time.sleep(0.05)
        assert [e["status"] for e in out] == [200, 500]  # newest first
        for e in out:
            assert e["system"] == "webhook" and e["method"] == "POST"
            assert e["url"] == httpserver.url_for("/hook")
            assert json.loads(e["request_body"]) == {
                "tenant": "jt", "name": "order.opened", "published_at": event["published_at"],
                "payload": {"id": "o-1"}}
            assert e["duration_ms"] >= 0
        assert [e["response_body"] for e in out] == ["thanks", "nope"]
        incoming = requests.get(f"{url}/_sim/journal", timeout=10, params={
            "tenant": "jt", "system": "platform", "method": "POST"}).json()["entries"]
        assert any(e["url"] == "/api/v1/org/integrations/eventstream" and e["status"] == 201
                   for e in incoming)
