"""The control plane's clock: GET/PUT /_sim/clock, POST /_sim/clock/advance, the serve flags,
the `newstore-sim clock` command, and an advance waking the Event Stream dispatcher."""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from simulator import cli
from simulator.core.clock import Clock, iso, parse_iso
from simulator.settings import Settings
from tests.conftest import make_settings
from tests.server import running_server, server_token


def _now(body: dict) -> datetime:
    assert body["now"].endswith("Z") and len(body["now"]) == 24  # ISO with ms and Z
    return parse_iso(body["now"])


def _problem(r, status: int, field: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["detail"]
    if field:
        assert body["field"] == field
    return body


def test_get_clock_is_real_by_default(client):
    body = client.get("/_sim/clock").json()
    assert body["mode"] == "real" and body["scale"] == 1
    assert abs((_now(body) - datetime.now(UTC)).total_seconds()) < 5


def test_manual_clock_stands_still_until_advanced(client):
    r = client.put("/_sim/clock", json={"mode": "manual"})
    assert r.status_code == 200, r.text
    start = _now(r.json())
    assert r.json()["mode"] == "manual"
    time.sleep(0.05)
    assert _now(client.get("/_sim/clock").json()) == start
    r = client.post("/_sim/clock/advance", json={"seconds": 900})
    assert r.status_code == 200, r.text
    assert _now(r.json()) - start == timedelta(seconds=900)
    target = start + timedelta(days=2)
    r = client.post("/_sim/clock/advance", json={"to": target.isoformat()})
    assert r.status_code == 200, r.text
    assert _now(r.json()) == target
    assert _now(client.get("/_sim/clock").json()) == target


def test_scaled_clock_runs_faster(client, platform):
    r = client.put("/_sim/clock", json={"mode": "scaled", "scale": 1000})
    assert r.status_code == 200, r.text
    assert r.json()["mode"] == "scaled" and r.json()["scale"] == 1000
    before = platform.clock.now()
    time.sleep(0.05)
    passed = (platform.clock.now() - before).total_seconds()
    assert 40 <= passed < 600  # about 50 simulated seconds in 0.05 real ones
    # back to real keeps the simulated time reached (no jump back)
    r = client.put("/_sim/clock", json={"mode": "real"})
    assert r.json()["scale"] == 1 and _now(r.json()) >= before + timedelta(seconds=40)


def test_timestamps_follow_the_manual_clock(client, auth):
    client.put("/_sim/clock", json={"mode": "manual"})
    r = client.post("/_sim/clock/advance", json={"to": "2031-05-04T10:00:00Z"})
    assert r.status_code == 200, r.text
    r = client.post("/_sim/events", json={"name": "order.opened"})
    assert r.status_code == 201, r.text
    assert r.json()["events"][0]["published_at"] == "2031-05-04T10:00:00.000Z"


@pytest.mark.parametrize("body, field", [
    ({"mode": "scaled"}, "scale"),
    ({"mode": "scaled", "scale": 0}, "scale"),
    ({"mode": "scaled", "scale": -3}, "scale"),
    ({"mode": "manual", "scale": 5}, "scale"),
])
def test_bad_clock_mode_is_422_naming_the_field(client, body, field):
    _problem(client.put("/_sim/clock", json=body), 422, field)
    assert client.get("/_sim/clock").json()["mode"] == "real"


@pytest.mark.parametrize("body", [{}, {"mode": "sundial"}, {"mode": "real", "extra": 1},
                                  {"mode": "scaled", "scale": "fast"}])
def test_malformed_clock_mode_is_400(client, body):
    _problem(client.put("/_sim/clock", json=body), 400)


@pytest.mark.parametrize("body, field", [
    ({"seconds": -5}, "seconds"),
    ({"seconds": 0}, "seconds"),
    ({"seconds": 10 ** 400}, "seconds"),
    ({}, "seconds"),
    ({"seconds": 5, "to": "2040-01-01T00:00:00Z"}, "seconds"),
    ({"to": "2001-01-01T00:00:00Z"}, "to"),
    ({"to": "not a date"}, "to"),
    ({"to": "9999-12-31T00:00:00Z"}, "to"),
])
def test_advance_backwards_or_badly_is_422_naming_the_field(client, body, field):
    client.put("/_sim/clock", json={"mode": "manual"})
    before = client.get("/_sim/clock").json()["now"]
    _problem(client.post("/_sim/clock/advance", json=body), 422, field)
    assert client.get("/_sim/clock").json()["now"] == before


@pytest.mark.parametrize("body", [{"seconds": "ten"}, {"days": 1}, [1]])
def test_malformed_advance_is_400(client, body):
    _problem(client.post("/_sim/clock/advance", json=body), 400)


def test_clock_honours_the_control_token():
    from simulator.app import create_app

    app = create_app(make_settings(control_token="ctl"))
    with app.test_client() as c:
        assert c.get("/_sim/clock").status_code == 401
        assert c.put("/_sim/clock", json={"mode": "manual"},
                     headers={"Authorization": "Bearer nope"}).status_code == 403
        r = c.put("/_sim/clock", json={"mode": "manual"},
                  headers={"Authorization": "Bearer ctl"})
        assert r.status_code == 200 and r.json()["mode"] == "manual"


def test_settings_and_serve_flags_choose_the_clock(monkeypatch):
    s = Settings.from_env({"SIM_CLOCK_MODE": "scaled", "SIM_CLOCK_SCALE": "60"})
    assert (s.clock_mode, s.clock_scale) == ("scaled", 60.0)
    with pytest.raises(ValueError, match="SIM_CLOCK_SCALE"):
        Settings.from_env({"SIM_CLOCK_SCALE": "fast"})
    with pytest.raises(ValueError, match="clock_scale"):
        Settings.from_env({"SIM_CLOCK_MODE": "scaled", "SIM_CLOCK_SCALE": "0"})
    args = cli.build_parser().parse_args(["serve", "--clock", "manual", "--clock-scale", "5"])
    assert (args.clock_mode, args.clock_scale) == ("manual", 5.0)
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["serve", "--clock", "sundial"])


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory):
    db = tmp_path_factory.mktemp("clock") / "sim.db"
    with running_server(make_settings(db=str(db), clock_mode="manual")) as url:
        yield url


def test_cli_clock_shows_sets_and_advances(live, capsys):
    assert cli.main(["clock", "--url", live]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["mode"] == "manual"
    assert cli.main(["clock", "advance", "3600", "--url", live]) == 0
    moved = json.loads(capsys.readouterr().out)
    assert _now(moved) - _now(shown) == timedelta(hours=1)
    assert cli.main(["clock", "set", "scaled", "--scale", "60", "--url", live]) == 0
    assert json.loads(capsys.readouterr().out)["scale"] == 60
    assert cli.main(["clock", "set", "manual", "--url", live]) == 0
    capsys.readouterr()
    assert cli.main(["clock", "advance", "-5", "--url", live]) == 1
    assert "422" in capsys.readouterr().err
    assert cli.main(["clock", "--url", "http://127.0.0.1:9"]) == 1
    assert "cannot reach" in capsys.readouterr().err


def test_advance_wakes_the_dispatcher_for_a_retry_in_simulated_time(live, httpserver):
    """With a manual clock, a retry 300 simulated seconds away waits for an advance, and is
    sent right after it (the clock wakes the dispatcher)."""
    requests.put(f"{live}/_sim/clock", json={"mode": "manual"}, timeout=10)
    httpserver.expect_ordered_request("/hook").respond_with_data("down", status=500)
    httpserver.expect_ordered_request("/hook").respond_with_data("ok", status=200)
    headers = {"tenant": "clocked", "Authorization": f"Bearer {server_token(live, 'clocked')}"}
    r = requests.post(f"{live}/api/v1/org/integrations/eventstream", headers=headers, json={
        "id": "erp", "callback_parameters": {"callback_url": httpserver.url_for("/hook")},
        "simulator": {"retry_profile": {"delays": [300], "jitter": 0}}}, timeout=10)
    assert r.status_code in (200, 201), r.text
    r = requests.post(f"{live}/_sim/events", json={"name": "order.opened"},
                      headers={"tenant": "clocked"}, timeout=10)
    assert r.status_code == 201, r.text

    def sent() -> int:
        return sum(1 for req, _ in httpserver.log if req.path == "/hook")

    deadline = time.monotonic() + 10
    while sent() < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sent() == 1, (requests.get(f"{live}/_sim/eventstream/deliveries",
                                      params={"tenant": "clocked"}, timeout=10).json(),
                         requests.get(f"{live}/_sim/clock", timeout=10).json(), httpserver.log)
    time.sleep(1.5)  # longer than the dispatcher's idle wait: time stands still, no retry
    assert sent() == 1
    r = requests.post(f"{live}/_sim/clock/advance", json={"seconds": 299}, timeout=10)
    assert r.status_code == 200
    time.sleep(0.5)
    assert sent() == 1  # not yet due
    advanced = time.monotonic()
    requests.post(f"{live}/_sim/clock/advance", json={"seconds": 2}, timeout=10)
    while sent() < 2 and time.monotonic() < advanced + 5:
        time.sleep(0.01)
    assert sent() == 2
    assert time.monotonic() - advanced < 1.0  # woken by the advance, not by polling


def test_advance_to_lands_exactly_on_the_moment_whatever_the_microseconds():
    # moving by a difference of floats fell a microsecond short for about 3% of start times,
    # and the clock then showed the millisecond before the one asked for
    draw = random.Random(1)
    clock = Clock()
    clock.set_mode("manual")
    for _ in range(2000):
        start = datetime.fromtimestamp(clock.timestamp() + draw.random() * 1e5, UTC)
        clock.advance_to(start)
        target = parse_iso(iso(clock.now())) + timedelta(days=2)  # as a client sees it
        assert clock.advance_to(target) == target
        assert iso(clock.now()) == iso(target)
    with pytest.raises(ValueError):
        clock.advance_to(target - timedelta(seconds=1))
