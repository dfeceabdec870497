"""Timers: state transitions the clock fires (a PSP delay, a scheduled action), durable in the
store, each fired exactly once in the same write transaction as its effects."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from simulator.core.clock import Clock
from simulator.core.loop import MAX_WAIT, BackgroundLoop, due_now, real_wait
from simulator.core.store import Store, Tx

log = logging.getLogger(__name__)

ERROR_CHARS = 1000  # of a failing handler's error kept on the timer row

Handler = Callable[[Tx, str, dict[str, Any]], None]


def schedule(tx: Tx, tenant: str, kind: str, due_at: float, payload: dict[str, Any],
             wake: threading.Event | None = None) -> int:
    """Add a pending timer in the caller's transaction; ring `wake` once it commits."""
    cur = tx.conn.execute(
        "INSERT INTO timers (tenant, kind, due_at, payload, status) VALUES (?, ?, ?, ?, 'pending')",
        (tenant, kind, float(due_at), json.dumps(payload, separators=(",", ":"), sort_keys=True)))
    if wake is not None:
        tx.after_commit(wake.set)
    return int(cur.lastrowid or 0)


def timer(tx: Tx, timer_id: int) -> dict[str, Any] | None:
    """One timer row as a dict, or None."""
    row = tx.conn.execute(
        "SELECT id, tenant, kind, due_at, payload, status, fired_at, error FROM timers"
        " WHERE id=?", (timer_id,)).fetchone()
    if row is None:
        return None
    return {"id": row[0], "tenant": row[1], "kind": row[2], "due_at": row[3],
            "payload": json.loads(row[4]), "status": row[5], "fired_at": row[6],
            "error": row[7]}


class TimerRunner(BackgroundLoop):
    """Fires due timers: in a daemon thread while the server runs, or on demand (run_due)."""

    name = "timers"

    def __init__(self, store: Store, clock: Clock) -> None:
        super().__init__(threading.Event())  # rung by schedule() after commit, clock jumps
        self.store = store
        self.clock = clock
        self._handlers: dict[str, Handler] = {}
        clock.listen(self.wake.set)

    @property
    def wake(self) -> threading.Event:
        """The bell schedule() rings once its transaction commits."""
        return self.bell

    def register(self, kind: str, handler: Handler) -> None:
        """Fire timers of `kind` with handler(tx, tenant, payload), inside the firing write."""
        self._handlers[kind] = handler
        self.wake.set()

    def schedule(self, tx: Tx, tenant: str, kind: str, due_at: float,
                 payload: dict[str, Any]) -> int:
        """schedule() that wakes this runner once the transaction commits."""
        return schedule(tx, tenant, kind, due_at, payload, wake=self.wake)

    def cycle(self) -> float | None:
        self.run_due()
        return self._wait_seconds()

    def _wait_seconds(self) -> float:
        kinds = list(self._handlers)
        if not kinds:
            return MAX_WAIT
        now = self.clock.timestamp()
        with self.store.read() as tx:
            row = tx.conn.execute(
                f"SELECT MIN(due_at) FROM timers WHERE status='pending' AND kind IN "
                f"({','.join('?' * len(kinds))})", kinds).fetchone()
        return real_wait(self.clock, row[0], now)

    # firing ---------------------------------------------------------------------------------
    def run_due(self, now: float | None = None) -> int:
        """Fire every timer due at `now` (default the clock's time), oldest first; how many
        fired (failed ones included)."""
        fired = 0
        while not (self.in_loop and self.stopping):
            if not self._fire_next(due_now(self.clock) if now is None else now):
                break
            fired += 1
        return fired

    def _fire_next(self, now: float) -> bool:
        kinds = list(self._handlers)
        if not kinds:
            return False
        with self.store.tx() as tx:
            row = tx.conn.execute(
                "SELECT id, tenant, kind, payload FROM timers WHERE status='pending'"
                f" AND due_at<=? AND kind IN ({','.join('?' * len(kinds))})"
                " ORDER BY due_at, id LIMIT 1", (now, *kinds)).fetchone()
            if row is None:
                return False
            timer_id, tenant, kind, raw = row
            fired_at = self.clock.timestamp()
            tx.conn.execute("SAVEPOINT timer_fire")
            try:
                self._handlers[kind](tx, tenant, json.loads(raw))
            except Exception as exc:  # noqa: BLE001 - a bad handler fails its timer, not the runner
                tx.conn.execute("ROLLBACK TO timer_fire")
                tx.conn.execute("RELEASE timer_fire")
                log.warning("timer %s (%s, tenant %s) failed: %s", timer_id, kind, tenant, exc,
                            exc_info=True)
                tx.conn.execute(
                    "UPDATE timers SET status='failed', fired_at=?, error=? WHERE id=?",
                    (fired_at, f"{type(exc).__name__}: {exc}"[:ERROR_CHARS], timer_id))
                return True
            tx.conn.execute("RELEASE timer_fire")
            tx.conn.execute("UPDATE timers SET status='done', fired_at=? WHERE id=?",
                            (fired_at, timer_id))
        return True
