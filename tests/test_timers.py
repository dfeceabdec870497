"""Timers: durable, fired in due order, exactly once, with their effects in the same write."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from simulator.core.clock import Clock
from simulator.core.store import Store
from simulator.core.timers import TimerRunner, schedule, timer

START = datetime(2026, 1, 1, tzinfo=UTC)


def rig(path: str = ":memory:") -> tuple[Store, Clock, TimerRunner, list[tuple[str, Any]]]:
    store = Store(path)
    clock = Clock("manual", start=START)
    runner = TimerRunner(store, clock)
    fired: list[tuple[str, Any]] = []

    def handler(tx: Any, tenant: str, payload: dict[str, Any]) -> None:
        fired.append((tenant, payload["n"]))
        tx.put(tenant, "effect", str(payload["n"]), {"n": payload["n"]})

    runner.register("test", handler)
    return store, clock, runner, fired


def status_of(store: Store, timer_id: int) -> dict[str, Any]:
    with store.read() as tx:
        found = timer(tx, timer_id)
    assert found is not None
    return found


def test_timers_fire_in_due_order_exactly_once():
    store, clock, runner, fired = rig()
    now = clock.timestamp()
    with store.tx() as tx:
        ids = [runner.schedule(tx, "t", "test", now + delay, {"n": n})
               for n, delay in enumerate([30, 10, 20, 90])]
    assert runner.run_due() == 0 and fired == []
    clock.advance(30)
    assert runner.run_due() == 3
    assert fired == [("t", 1), ("t", 2), ("t", 0)]
    assert runner.run_due() == 0 and len(fired) == 3  # never twice
    assert [status_of(store, i)["status"] for i in ids] == ["done", "done", "done", "pending"]
    assert status_of(store, ids[0])["fired_at"] == pytest.approx(now + 30)
    assert runner.run_due(now=now + 100) == 1 and fired[-1] == ("t", 3)
    with store.read() as tx:
        assert sorted(d["n"] for d in tx.query("t", "effect")) == [0, 1, 2, 3]


def test_schedule_rings_the_runner_only_after_commit():
    store, clock, runner, _ = rig()
    runner.wake.clear()
    with pytest.raises(RuntimeError), store.tx() as tx:
        runner.schedule(tx, "t", "test", clock.timestamp(), {"n": 1})
        raise RuntimeError("rolled back")
    assert not runner.wake.is_set()
    with store.read() as tx:
        assert tx.conn.execute("SELECT COUNT(*) FROM timers").fetchone()[0] == 0
    with store.tx() as tx:
        schedule(tx, "t", "test", clock.timestamp(), {"n": 1}, wake=runner.wake)
        assert not runner.wake.is_set()
    assert runner.wake.is_set()


def test_a_failing_handler_marks_the_timer_failed_and_rolls_back_its_effects():
    store, clock, runner, fired = rig()

    def broken(tx: Any, tenant: str, payload: dict[str, Any]) -> None:
        tx.put(tenant, "effect", "half", {"done": "half"})
        raise ValueError("no such account")

    runner.register("broken", broken)
    now = clock.timestamp()
    with store.tx() as tx:
        bad = runner.schedule(tx, "t", "broken", now, {})
        good = runner.schedule(tx, "t", "test", now, {"n": 7})
    assert runner.run_due() == 2
    row = status_of(store, bad)
    assert row["status"] == "failed" and row["error"] == "ValueError: no such account"
    assert status_of(store, good)["status"] == "done" and fired == [("t", 7)]
    with store.read() as tx:
        assert tx.get("t", "effect", "half") is None
        assert tx.get("t", "effect", "7") == {"n": 7}
    assert runner.run_due() == 0  # a failed timer is not retried


def test_timers_of_an_unregistered_kind_wait():
    store, clock, runner, fired = rig()
    with store.tx() as tx:
        later = runner.schedule(tx, "t", "later", clock.timestamp(), {"n": 1})
    assert runner.run_due() == 0 and status_of(store, later)["status"] == "pending"
    runner.register("later", lambda tx, tenant, payload: fired.append(("later", payload["n"])))
    assert runner.run_due() == 1 and fired == [("later", 1)]


def test_timers_survive_a_restart(tmp_path):
    path = str(tmp_path / "sim.db")
    store, clock, runner, fired = rig(path)
    with store.tx() as tx:
        timer_id = runner.schedule(tx, "t", "test", clock.timestamp() + 60, {"n": 42})
    store.close()
    store2, clock2, runner2, fired2 = rig(path)
    assert runner2.run_due() == 0
    clock2.advance(61)
    assert runner2.run_due() == 1 and fired2 == [("t", 42)] and fired == []
    assert status_of(store2, timer_id)["status"] == "done"
    assert runner2.run_due() == 0
    store2.close()


def test_the_background_thread_fires_when_the_clock_moves():
    store, clock, runner, fired = rig()
    done = threading.Event()
    runner.register("signal", lambda tx, tenant, payload: done.set())
    runner.start()
    try:
        assert runner.running
        with store.tx() as tx:
            runner.schedule(tx, "t", "signal", clock.timestamp() + 5, {})
        time.sleep(0.1)
        assert not done.is_set()  # a manual clock has not reached it
        clock.advance(5)
        assert done.wait(3)
    finally:
        runner.stop()
    assert not runner.running


def test_a_handler_that_raises_does_not_kill_the_thread():
    store, clock, runner, fired = rig()
    runner.register("boom", lambda tx, tenant, payload: 1 / 0)
    runner.start()
    try:
        with store.tx() as tx:
            bad = runner.schedule(tx, "t", "boom", clock.timestamp(), {})
            runner.schedule(tx, "t", "test", clock.timestamp() + 1, {"n": 1})
        clock.advance(1)
        deadline = time.monotonic() + 3
        while not fired and time.monotonic() < deadline:
            time.sleep(0.02)
        assert fired == [("t", 1)] and runner.running
        assert status_of(store, bad)["status"] == "failed"
    finally:
        runner.stop()
