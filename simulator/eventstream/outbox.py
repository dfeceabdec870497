"""The durable outbox: events written in the transaction that caused them, fanned out to
deliveries for every integration that should receive them."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from simulator.core.clock import iso
from simulator.core.store import Tx
from simulator.eventstream import filters

INTEGRATION = "eventstream_integration"  # entity kind of registered integrations

_rng = random.Random(7)  # chaos offsets; seeded so a run can be replayed


@dataclass(frozen=True)
class Event:
    """One published event as it sits in the outbox."""

    seq: int
    id: str
    tenant: str
    name: str
    published_at: str
    entity_type: str
    entity_id: str | None
    payload: dict[str, Any]

    def envelope(self) -> dict[str, Any]:
        """What NewStore POSTs to a callback."""
        return {"tenant": self.tenant, "name": self.name, "published_at": self.published_at,
                "payload": self.payload}


def publish(tx: Tx, tenant: str, name: str, payload: dict[str, Any], *, event_id: str,
            published_at: datetime) -> Event:
    """Write one event and its deliveries; the dispatcher is woken once the caller commits."""
    return publish_many(tx, tenant, [(name, payload)], event_ids=[event_id],
                        published_at=published_at)[0]


def publish_many(tx: Tx, tenant: str, events: list[tuple[str, dict[str, Any]]], *,
                 event_ids: list[str], published_at: datetime) -> list[Event]:
    """Write a batch of events (a burst) and their deliveries in the caller's transaction."""
    stamp = iso(published_at)
    ts = published_at.timestamp()
    integrations = tx.query(tenant, INTEGRATION, ascending=True)
    written = []
    for (name, payload), event_id in zip(events, event_ids, strict=True):
        entity_type = filters.entity_type_of(name)
        entity_id = payload.get("id") if isinstance(payload, dict) else None
        cur = tx.conn.execute(
            "INSERT INTO outbox (id, tenant, name, published_at, entity_type, entity_id, payload)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (event_id, tenant, name, stamp, entity_type,
             str(entity_id) if entity_id is not None else None,
             json.dumps(payload, separators=(",", ":"))))
        event = Event(cur.lastrowid, event_id, tenant, name, stamp, entity_type,
                      str(entity_id) if entity_id is not None else None, payload)
        for integration in integrations:
            if filters.matches(integration, name) and filters.in_window(integration, stamp):
                _add_delivery(tx, integration, event.seq, ts, ts)
        written.append(event)
    if tx.bell is not None:
        tx.after_commit(tx.bell.set)
    return written


def _add_delivery(tx: Tx, integration: dict[str, Any], seq: int, published_ts: float,
                  now_ts: float) -> None:
    chaos = (integration.get("simulator") or {}).get("chaos") or {}
    delay = float(chaos.get("latency_ms") or 0) / 1000
    window = float(chaos.get("out_of_order_window_ms") or 0) / 1000
    if window:
        delay += _rng.uniform(0, window)
    status = "pending" if integration.get("status") == "running" else "held"
    tx.conn.execute(
        "INSERT OR IGNORE INTO deliveries (tenant, integration_id, event_seq, status, due_at,"
        " published_ts) VALUES (?, ?, ?, ?, ?, ?)",
        (integration["tenant"], integration["id"], seq, status, now_ts + delay, published_ts))


def replay(tx: Tx, integration: dict[str, Any], now: datetime) -> int:
    """Deliveries for the retained events inside the integration's window (starts_at in the
    past); returns how many were queued."""
    starts = integration.get("starts_at")
    if not starts:
        return 0
    rows = tx.conn.execute(
        "SELECT seq, name, published_at FROM outbox WHERE tenant=? AND published_at>=?"
        " ORDER BY seq", (integration["tenant"], starts)).fetchall()
    queued = 0
    now_ts = now.timestamp()
    for seq, name, published_at in rows:
        if filters.matches(integration, name) and filters.in_window(integration, published_at):
            published_ts = datetime.fromisoformat(published_at.replace("Z", "+00:00")).timestamp()
            _add_delivery(tx, integration, seq, published_ts, now_ts)
            queued += 1
    if queued and tx.bell is not None:
        tx.after_commit(tx.bell.set)
    return queued


def events(tx: Tx, seqs: Iterable[int]) -> dict[int, Event]:
    """Outbox rows by sequence number."""
    seqs = list(seqs)
    found: dict[int, Event] = {}
    for start in range(0, len(seqs), 500):
        chunk = seqs[start:start + 500]
        marks = ",".join("?" * len(chunk))
        for row in tx.conn.execute(
                "SELECT seq, id, tenant, name, published_at, entity_type, entity_id, payload"
                f" FROM outbox WHERE seq IN ({marks})", chunk):
            found[row[0]] = Event(*row[:7], json.loads(row[7]))
    return found
