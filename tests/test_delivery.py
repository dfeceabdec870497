"""Event Stream delivery against a real local HTTP sink: acknowledge, retry, time out, refuse,
dead-letter, pause, filter, replay, chaos and redelivery, through a real uvicorn server."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from simulator.eventstream.dispatcher import IDEMPOTENCY_HEADER
from tests.conftest import make_settings
from tests.server import fixed_world, running_server, server_token, wait_for

_tenants = itertools.count(1)


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A simulator with its dispatcher running, fast retries and a short timeout."""
    db = tmp_path_factory.mktemp("delivery") / "sim.db"
    settings = make_settings(db=str(db), retry_profile="fast", delivery_timeout=2.0,
                             pause_after_failures=50)
    with running_server(settings) as url:
        yield url


class Tenant:
    """One fresh tenant of the simulator, so each test sees only its own events."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.name = f"delivery{next(_tenants)}"
        fixed_world(url, self.name)
        self.headers = {"tenant": self.name,
                        "Authorization": f"Bearer {server_token(url, self.name)}"}

    def register(self, integration_id: str, callback_url: str, **extra: Any) -> dict:
        body = {"id": integration_id,
                "callback_parameters": {"callback_url": callback_url, "api_key": "s3cret"},
                **extra}
        r = requests.post(f"{self.url}/api/v1/org/integrations/eventstream", json=body,
                          headers=self.headers, timeout=10)
        assert r.status_code in (200, 201), r.text
        return r.json()

    def integration(self, integration_id: str) -> dict:
        r = requests.get(f"{self.url}/api/v1/org/integrations/eventstream/{integration_id}",
                         headers=self.headers, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def emit(self, name: str, count: int = 1, **payload: Any) -> list[dict]:
        body: dict[str, Any] = {"name": name, "count": count}
        if payload:
            body["payload"] = payload
        r = requests.post(f"{self.url}/_sim/events", json=body, headers={"tenant": self.name},
                          timeout=30)
        assert r.status_code == 201, r.text
        return r.json()["events"]

    def sim_get(self, path: str, **params: Any) -> dict:
        r = requests.get(f"{self.url}/_sim/eventstream/{path}", params=params,
                         headers={"tenant": self.name}, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def deliveries(self, integration_id: str) -> list[dict]:
        return self.sim_get("deliveries", integration_id=integration_id)["deliveries"]


@pytest.fixture
def tenant(sim: str) -> Tenant:
    return Tenant(sim)




def bodies(httpserver: HTTPServer, path: str) -> list[dict]:
    return [json.loads(req.get_data()) for req, _ in httpserver.log if req.path == path]


def requests_to(httpserver: HTTPServer, path: str) -> list[Request]:
    return [req for req, _ in httpserver.log if req.path == path]


def test_acknowledged_event_is_delivered_once_with_envelope_and_headers(tenant, httpserver):
    httpserver.expect_request("/ack", method="POST").respond_with_data("ok")
    tenant.register("ack", httpserver.url_for("/ack"))
    [event] = tenant.emit("order.opened", id="order-1", items=[])
    wait_for(lambda: requests_to(httpserver, "/ack"), what="the delivery")
    time.sleep(0.3)
    [request] = requests_to(httpserver, "/ack")
    body = json.loads(request.get_data())
    assert body == {"tenant": tenant.name, "name": "order.opened",
                    "published_at": event["published_at"],
                    "payload": {"id": "order-1", "items": []}}
    assert body["published_at"].endswith("Z") and len(body["published_at"]) == 24
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Authorization"] == "Bearer s3cret"
    assert request.headers[IDEMPOTENCY_HEADER] == event["id"]
    [delivery] = wait_for(lambda: [d for d in tenant.deliveries("ack")
                                   if d["status"] == "delivered"])
    assert delivery["attempts"] == 1 and delivery["last_status_code"] == 200
    [attempt] = tenant.sim_get("attempts", event_id=event["id"])["attempts"]
    assert attempt["status_code"] == 200 and attempt["response_body"] == "ok"
    assert attempt["duration_ms"] >= 0 and attempt["error"] is None


def test_no_bearer_header_without_api_key(tenant, httpserver):
    httpserver.expect_request("/nokey").respond_with_data("ok")
    body = {"id": "nokey", "callback_parameters": {"callback_url": httpserver.url_for("/nokey")}}
    r = requests.post(f"{tenant.url}/api/v1/org/integrations/eventstream", json=body,
                      headers=tenant.headers, timeout=10)
    assert r.status_code in (200, 201), r.text
    tenant.emit("order.created", id="o", items=[])
    [request] = wait_for(lambda: requests_to(httpserver, "/nokey"))
    assert "Authorization" not in request.headers


def test_500_is_retried_then_acknowledged_and_not_sent_again(tenant, httpserver):
    httpserver.expect_ordered_request("/flaky").respond_with_data("down", status=500)
    httpserver.expect_ordered_request("/flaky").respond_with_data("ok", status=200)
    tenant.register("flaky", httpserver.url_for("/flaky"))
    [event] = tenant.emit("return.processed", id="r-1", items=[])
    wait_for(lambda: len(requests_to(httpserver, "/flaky")) == 2, what="two attempts")
    time.sleep(0.5)  # longer than the fast profile's next retry
    sent = requests_to(httpserver, "/flaky")
    assert len(sent) == 2
    assert {r.headers[IDEMPOTENCY_HEADER] for r in sent} == {event["id"]}
    [delivery] = wait_for(lambda: [d for d in tenant.deliveries("flaky")
                                   if d["status"] == "delivered"])
    assert delivery["attempts"] == 2
    codes = [a["status_code"] for a in tenant.sim_get("attempts", event_id=event["id"])["attempts"]]
    assert codes == [500, 200]


def test_timeout_is_an_attempt_that_fails_and_is_retried(tenant, httpserver):
    calls = []

    def slow_first(request: Request) -> Response:
        calls.append(1)
        if len(calls) == 1:
            time.sleep(0.6)
        return Response("ok")

    httpserver.expect_request("/slow").respond_with_handler(slow_first)
    tenant.register("slow", httpserver.url_for("/slow"), simulator={"timeout_seconds": 0.2})
    [event] = tenant.emit("order.completed", id="o-2", items=[])
    wait_for(lambda: [d for d in tenant.deliveries("slow") if d["status"] == "delivered"],
             what="delivery after the timeout")
    attempts = tenant.sim_get("attempts", event_id=event["id"])["attempts"]
    assert attempts[0]["status_code"] is None
    assert "timeout" in attempts[0]["error"]
    assert attempts[-1]["status_code"] == 200


def test_connection_refused_is_retried_then_dead_lettered(tenant):
    tenant.register("refused", "http://127.0.0.1:9/hook")
    [event] = tenant.emit("order.cancelled", id="o-3", items=[])
    [dead] = wait_for(lambda: tenant.sim_get("dead-letters", integration_id="refused")
                      ["dead_letters"], timeout=15, what="the dead letter")
    assert dead["event_id"] == event["id"]
    assert dead["attempts"] == 6  # first attempt + five retries of the fast profile
    assert "connection" in dead["last_error"].lower()
    attempts = tenant.sim_get("attempts", event_id=event["id"])["attempts"]
    assert [a["attempt"] for a in attempts] == [1, 2, 3, 4, 5, 6]
    # the retries were spread by the schedule, not sent back to back
    sent = [datetime.fromisoformat(a["sent_at"].replace("Z", "+00:00")) for a in attempts]
    assert (sent[-1] - sent[0]).total_seconds() >= 1.2


def test_other_4xx_rejects_the_event_at_once(tenant, httpserver):
    httpserver.expect_request("/reject").respond_with_data("bad event", status=400)
    tenant.register("reject", httpserver.url_for("/reject"))
    tenant.emit("order.opened", id="o-4", items=[])
    [dead] = wait_for(lambda: tenant.sim_get("dead-letters", integration_id="reject")
                      ["dead_letters"])
    assert dead["attempts"] == 1 and dead["last_status_code"] == 400
    time.sleep(0.3)
    assert len(requests_to(httpserver, "/reject")) == 1


def test_429_is_retried(tenant, httpserver):
    httpserver.expect_ordered_request("/busy").respond_with_data("slow down", status=429)
    httpserver.expect_ordered_request("/busy").respond_with_data("ok")
    tenant.register("busy", httpserver.url_for("/busy"))
    tenant.emit("order.opened", id="o-5", items=[])
    wait_for(lambda: [d for d in tenant.deliveries("busy") if d["status"] == "delivered"])
    assert len(requests_to(httpserver, "/busy")) == 2


def test_integration_pauses_after_consecutive_failures_and_resumes(tenant, httpserver):
    httpserver.expect_request("/broken").respond_with_data("down", status=503)
    tenant.register("broken", httpserver.url_for("/broken"),
                    simulator={"pause_after_failures": 3})
    tenant.emit("order.opened", count=2, id="o-6", items=[])
    paused = wait_for(lambda: (i := tenant.integration("broken"))["status"] == "stopped" and i,
                      what="the pause")
    assert paused["stopped_reason"] == "consecutive_failures"
    time.sleep(0.3)  # attempts already in flight when it paused may still land
    seen = len(requests_to(httpserver, "/broken"))
    assert 3 <= seen <= 4
    time.sleep(0.5)
    assert len(requests_to(httpserver, "/broken")) == seen  # nothing is sent while paused
    held = [d for d in tenant.deliveries("broken") if d["status"] == "held"]
    assert len(held) == 2
    httpserver.clear()
    httpserver.expect_request("/broken").respond_with_data("ok")
    r = requests.post(f"{tenant.url}/api/v1/org/integrations/eventstream/broken/_start",
                      json={}, headers=tenant.headers, timeout=10)
    assert r.status_code == 200, r.text
    wait_for(lambda: all(d["status"] == "delivered" for d in tenant.deliveries("broken")),
             what="delivery after the restart")


def test_filters_decide_what_an_integration_receives(tenant, httpserver):
    httpserver.expect_request("/by-name").respond_with_data("ok")
    httpserver.expect_request("/by-entity").respond_with_data("ok")
    tenant.register("by-name", httpserver.url_for("/by-name"),
                    filter_conditions={"event_filter": ["order.opened"], "entity_filter": []})
    tenant.register("by-entity", httpserver.url_for("/by-entity"),
                    filter_conditions={"event_filter": [], "entity_filter": ["payment_account"]})
    tenant.emit("order.created", id="o-7", items=[])
    tenant.emit("order.opened", id="o-7", items=[])
    tenant.emit("payment_account.amount_captured", id="pa-7", transactions=[], instruments=[])
    wait_for(lambda: bodies(httpserver, "/by-name") and bodies(httpserver, "/by-entity"))
    time.sleep(0.3)
    assert [b["name"] for b in bodies(httpserver, "/by-name")] == ["order.opened"]
    assert [b["name"] for b in bodies(httpserver, "/by-entity")] == [
        "payment_account.amount_captured"]


def test_starts_at_in_the_past_replays_retained_events(tenant, httpserver):
    before = tenant.emit("order.opened", count=3, id="o-8", items=[])
    httpserver.expect_request("/replay").respond_with_data("ok")
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    tenant.register("replay", httpserver.url_for("/replay"), starts_at=past)
    wait_for(lambda: len(requests_to(httpserver, "/replay")) == 3, what="the replay")
    got = {r.headers[IDEMPOTENCY_HEADER] for r in requests_to(httpserver, "/replay")}
    assert got == {e["id"] for e in before}


def test_integration_registered_now_gets_no_earlier_events(tenant, httpserver):
    tenant.emit("order.opened", id="old", items=[])
    httpserver.expect_request("/live").respond_with_data("ok")
    tenant.register("live", httpserver.url_for("/live"))
    tenant.emit("order.opened", id="new", items=[])
    wait_for(lambda: requests_to(httpserver, "/live"))
    time.sleep(0.3)
    assert [b["payload"]["id"] for b in bodies(httpserver, "/live")] == ["new"]


def test_temporary_integration_replays_its_window_then_stops(tenant, httpserver):
    inside = tenant.emit("order.opened", count=2, id="o-9", items=[])
    time.sleep(0.05)
    ends = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    time.sleep(0.05)
    tenant.emit("order.opened", id="after-window", items=[])
    httpserver.expect_request("/temp").respond_with_data("ok")
    starts = (datetime.now(UTC) - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    tenant.register("temp", httpserver.url_for("/temp"), integration_type="temporary",
                    starts_at=starts, ends_at=ends)
    stopped = wait_for(lambda: (i := tenant.integration("temp"))["status"] == "stopped" and i,
                       timeout=10, what="the temporary integration to stop")
    assert stopped["stopped_reason"] == "ended"
    got = {r.headers[IDEMPOTENCY_HEADER] for r in requests_to(httpserver, "/temp")}
    assert got == {e["id"] for e in inside}


def test_duplicate_delivery_chaos_sends_the_same_event_twice(tenant, httpserver):
    httpserver.expect_request("/dups").respond_with_data("ok")
    tenant.register("dups", httpserver.url_for("/dups"),
                    simulator={"chaos": {"duplicate_rate": 1.0}})
    events = tenant.emit("order.opened", count=3, id="o-10", items=[])
    wait_for(lambda: len(requests_to(httpserver, "/dups")) == 6, what="six requests")
    keys = [r.headers[IDEMPOTENCY_HEADER] for r in requests_to(httpserver, "/dups")]
    assert sorted(keys) == sorted([e["id"] for e in events] * 2)
    attempts = tenant.sim_get("attempts", integration_id="dups")["attempts"]
    assert sum(a["duplicate"] for a in attempts) == 3


def test_out_of_order_window_scrambles_the_order(tenant, httpserver):
    httpserver.expect_request("/scramble").respond_with_data("ok")
    tenant.register("scramble", httpserver.url_for("/scramble"),
                    simulator={"chaos": {"out_of_order_window_ms": 300}})
    events = [tenant.emit("order.opened", id=f"o-{n}", items=[])[0] for n in range(15)]
    wait_for(lambda: len(requests_to(httpserver, "/scramble")) == 15, what="all 15")
    received = [r.headers[IDEMPOTENCY_HEADER] for r in requests_to(httpserver, "/scramble")]
    assert sorted(received) == sorted(e["id"] for e in events)
    assert received != [e["id"] for e in events]


def test_added_latency_delays_the_first_attempt(tenant, httpserver):
    httpserver.expect_request("/late").respond_with_data("ok")
    tenant.register("late", httpserver.url_for("/late"),
                    simulator={"chaos": {"latency_ms": 400}})
    tenant.emit("order.opened", id="o-11", items=[])
    wait_for(lambda: [d for d in tenant.deliveries("late") if d["status"] == "delivered"])
    [stats] = tenant.sim_get("latency", integration_id="late")["integrations"]
    assert stats["published_to_first_attempt_ms"]["p50"] >= 390


def test_dead_letters_can_be_redelivered(tenant, httpserver):
    httpserver.expect_request("/later").respond_with_data("nope", status=404)
    tenant.register("later", httpserver.url_for("/later"))
    [event] = tenant.emit("order.opened", id="o-12", items=[])
    wait_for(lambda: tenant.sim_get("dead-letters", integration_id="later")["dead_letters"])
    httpserver.clear()
    httpserver.expect_request("/later").respond_with_data("ok")
    r = requests.post(f"{tenant.url}/_sim/eventstream/dead-letters/_redeliver",
                      json={"integration_id": "later"}, headers={"tenant": tenant.name},
                      timeout=10)
    assert r.status_code == 200 and r.json()["redelivered"] == 1, r.text
    [delivery] = wait_for(lambda: [d for d in tenant.deliveries("later")
                                   if d["status"] == "delivered"])
    assert delivery["event_id"] == event["id"]
    assert tenant.sim_get("dead-letters", integration_id="later")["dead_letters"] == []


def test_latency_figures_cover_every_acknowledged_delivery(tenant, httpserver):
    httpserver.expect_request("/fast").respond_with_data("ok")
    tenant.register("fast", httpserver.url_for("/fast"))
    tenant.emit("order.opened", count=20, id="o-13", items=[])
    wait_for(lambda: len(requests_to(httpserver, "/fast")) == 20)
    stats = wait_for(lambda: (s := tenant.sim_get("latency", integration_id="fast")
                              ["integrations"]) and s[0]["published_to_acknowledged_ms"]
                     ["count"] == 20 and s[0])
    acked = stats["published_to_acknowledged_ms"]
    assert 0 <= acked["p50"] <= acked["p95"] <= acked["p99"] <= acked["max"]
    assert acked["max"] < 5000
