"""Delivery rows (one per event and integration) and attempt records: what the dispatcher
claims and updates, and what the observability and control APIs read."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from simulator.core.clock import iso
from simulator.core.store import Tx

# pending: due for an attempt; held: its integration is stopped; delivered; dead (dead letter)
STATUSES = ("pending", "held", "delivered", "dead")


@dataclass(frozen=True)
class Due:
    """A delivery the dispatcher should attempt now."""

    id: int
    tenant: str
    integration_id: str
    event_seq: int
    attempts: int
    due_at: float


@dataclass
class Outcome:
    """What one attempt (and any chaos duplicate) gave."""

    delivery_id: int
    tenant: str
    integration_id: str
    event_id: str
    attempt: int
    scheduled_ts: float
    sent_ts: float
    duration_ms: float
    status_code: int | None
    error: str | None
    response_body: str | None
    duplicate: bool = False


def stamp(ts: float | None) -> str | None:
    """A stored clock timestamp as ISO 8601 (milliseconds, Z)."""
    return None if ts is None else iso(datetime.fromtimestamp(ts, UTC))


def claim_due(tx: Tx, now_ts: float, limit: int, skip: Iterable[int] = ()) -> list[Due]:
    """Pending deliveries whose time has come, oldest first, minus those already in flight."""
    skip = set(skip)
    rows = tx.conn.execute(
        "SELECT id, tenant, integration_id, event_seq, attempts, due_at FROM deliveries"
        " WHERE status='pending' AND due_at<=? ORDER BY due_at, id LIMIT ?",
        (now_ts, limit + len(skip))).fetchall()
    return [Due(*row) for row in rows if row[0] not in skip][:limit]


def next_due(tx: Tx) -> float | None:
    """When the next pending delivery falls due."""
    row = tx.conn.execute("SELECT MIN(due_at) FROM deliveries WHERE status='pending'").fetchone()
    return row[0]


def record_attempt(tx: Tx, outcome: Outcome) -> None:
    """Append one attempt record."""
    tx.conn.execute(
        "INSERT INTO attempts (delivery_id, tenant, integration_id, event_id, attempt, duplicate,"
        " scheduled_at, sent_at, status_code, duration_ms, error, response_body)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (outcome.delivery_id, outcome.tenant, outcome.integration_id, outcome.event_id,
         outcome.attempt, int(outcome.duplicate), stamp(outcome.scheduled_ts),
         stamp(outcome.sent_ts), outcome.status_code, round(outcome.duration_ms, 3),
         outcome.error, outcome.response_body))


def mark(tx: Tx, outcome: Outcome, status: str, due_at: float | None = None) -> None:
    """Move a delivery on after an attempt: delivered, pending again (retry), held or dead."""
    acked = outcome.sent_ts + outcome.duration_ms / 1000 if status == "delivered" else None
    tx.conn.execute(
        "UPDATE deliveries SET status=?, attempts=?, due_at=COALESCE(?, due_at),"
        " first_sent_ts=COALESCE(first_sent_ts, ?), acked_ts=COALESCE(?, acked_ts),"
        " last_status=?, last_error=? WHERE id=?",
        (status, outcome.attempt, due_at, outcome.sent_ts, acked, outcome.status_code,
         outcome.error, outcome.delivery_id))


def hold(tx: Tx, tenant: str, integration_id: str) -> int:
    """A stopped integration keeps its queue: pending deliveries wait until it starts again."""
    return tx.conn.execute(
        "UPDATE deliveries SET status='held' WHERE tenant=? AND integration_id=?"
        " AND status='pending'", (tenant, integration_id)).rowcount


def release(tx: Tx, tenant: str, integration_id: str, now_ts: float) -> int:
    """Held deliveries become due at once when their integration starts."""
    count = tx.conn.execute(
        "UPDATE deliveries SET status='pending', due_at=MIN(due_at, ?) WHERE tenant=?"
        " AND integration_id=? AND status='held'", (now_ts, tenant, integration_id)).rowcount
    if count and tx.bell is not None:
        tx.after_commit(tx.bell.set)
    return count


def remove(tx: Tx, tenant: str, integration_id: str) -> None:
    """Deleting an integration deletes its deliveries and logs, as NewStore documents."""
    tx.conn.execute("DELETE FROM attempts WHERE tenant=? AND integration_id=?",
                    (tenant, integration_id))
    tx.conn.execute("DELETE FROM deliveries WHERE tenant=? AND integration_id=?",
                    (tenant, integration_id))


def open_count(tx: Tx, tenant: str, integration_id: str) -> int:
    """Deliveries not yet delivered or dead-lettered."""
    return tx.conn.execute(
        "SELECT COUNT(*) FROM deliveries WHERE tenant=? AND integration_id=?"
        " AND status IN ('pending', 'held')", (tenant, integration_id)).fetchone()[0]


def counts(tx: Tx, tenant: str, integration_id: str) -> dict[str, int]:
    """Deliveries of an integration by status."""
    found = dict.fromkeys(STATUSES, 0)
    for status, n in tx.conn.execute(
            "SELECT status, COUNT(*) FROM deliveries WHERE tenant=? AND integration_id=?"
            " GROUP BY status", (tenant, integration_id)):
        found[status] = n
    return found


def redeliver(tx: Tx, tenant: str, now_ts: float, *, delivery_id: int | None = None,
              integration_id: str | None = None, dead_only: bool = True) -> int:
    """Queue deliveries again from attempt one (a dead letter, or any delivery by id)."""
    sql = ("UPDATE deliveries SET status=CASE WHEN status='held' THEN 'held' ELSE 'pending' END,"
           " attempts=0, due_at=? WHERE tenant=?")
    args: list[Any] = [now_ts, tenant]
    if delivery_id is not None:
        sql += " AND id=?"
        args.append(delivery_id)
    if integration_id is not None:
        sql += " AND integration_id=?"
        args.append(integration_id)
    if dead_only:
        sql += " AND status='dead'"
    count = tx.conn.execute(sql, args).rowcount
    if count and tx.bell is not None:
        tx.after_commit(tx.bell.set)
    return count


def _delivery_view(row: tuple) -> dict[str, Any]:
    (did, integration_id, status, attempts, due_at, published_ts, first_ts, acked_ts,
     last_status, last_error, event_id, name, published_at, entity_type, entity_id) = row
    return {
        "delivery_id": did, "integration_id": integration_id, "status": status,
        "attempts": attempts, "next_attempt_at": stamp(due_at) if status == "pending" else None,
        "first_attempt_at": stamp(first_ts), "acknowledged_at": stamp(acked_ts),
        "last_status_code": last_status, "last_error": last_error,
        "event_id": event_id, "event_name": name, "published_at": published_at,
        "domain_entity_type": entity_type, "domain_entity_id": entity_id,
    }


_VIEW = ("SELECT d.id, d.integration_id, d.status, d.attempts, d.due_at, d.published_ts,"
         " d.first_sent_ts, d.acked_ts, d.last_status, d.last_error, o.id, o.name,"
         " o.published_at, o.entity_type, o.entity_id"
         " FROM deliveries d JOIN outbox o ON o.seq = d.event_seq WHERE d.tenant=?")


def find(tx: Tx, tenant: str, *, integration_id: str | None = None,
         statuses: Iterable[str] = (), event_name: str | None = None,
         event_id: str | None = None, entity_type: str | None = None,
         entity_id: str | None = None, published_from: str | None = None,
         published_to: str | None = None, delivery_id: int | None = None,
         limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
    """Deliveries joined with their events, newest first, filtered the way NewStore's event
    observability API filters."""
    sql = _VIEW
    args: list[Any] = [tenant]
    for column, value in (("d.integration_id", integration_id), ("o.name", event_name),
                          ("o.id", event_id), ("o.entity_type", entity_type),
                          ("o.entity_id", entity_id), ("d.id", delivery_id)):
        if value is not None:
            sql += f" AND {column}=?"
            args.append(value)
    statuses = list(statuses)
    if statuses:
        sql += f" AND d.status IN ({','.join('?' * len(statuses))})"
        args.extend(statuses)
    if published_from:
        sql += " AND o.published_at>=?"
        args.append(published_from)
    if published_to:
        sql += " AND o.published_at<=?"
        args.append(published_to)
    sql += " ORDER BY d.event_seq DESC, d.id LIMIT ? OFFSET ?"
    args.extend([limit, offset])
    return [_delivery_view(row) for row in tx.conn.execute(sql, args)]


def attempts(tx: Tx, tenant: str, *, delivery_id: int | None = None,
             event_id: str | None = None, integration_id: str | None = None,
             limit: int = 200) -> list[dict[str, Any]]:
    """Attempt records, oldest first."""
    sql = ("SELECT delivery_id, integration_id, event_id, attempt, duplicate, scheduled_at,"
           " sent_at, status_code, duration_ms, error, response_body FROM attempts"
           " WHERE tenant=?")
    args: list[Any] = [tenant]
    for column, value in (("delivery_id", delivery_id), ("event_id", event_id),
                          ("integration_id", integration_id)):
        if value is not None:
            sql += f" AND {column}=?"
            args.append(value)
    sql += " ORDER BY id LIMIT ?"
    args.append(limit)
    keys = ("delivery_id", "integration_id", "event_id", "attempt", "duplicate",
            "scheduled_at", "sent_at", "status_code", "duration_ms", "error", "response_body")
    found = []
    for row in tx.conn.execute(sql, args):
        item = dict(zip(keys, row, strict=True))
        item["duplicate"] = bool(item["duplicate"])
        found.append(item)
    return found


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"count": 0, "p50": None, "p95": None, "p99": None, "max": None}
    values = sorted(values)

    def pick(q: float) -> float:
        return round(values[min(len(values) - 1, int(q * len(values)))] * 1000, 3)

    return {"count": len(values), "p50": pick(0.50), "p95": pick(0.95), "p99": pick(0.99),
            "max": round(values[-1] * 1000, 3)}


def latency(tx: Tx, tenant: str, integration_id: str | None = None) -> list[dict[str, Any]]:
    """Per integration, in milliseconds: published to first attempt, published to
    acknowledged (p50, p95, p99, max)."""
    sql = ("SELECT integration_id, first_sent_ts - published_ts, acked_ts - published_ts"
           " FROM deliveries WHERE tenant=? AND first_sent_ts IS NOT NULL")
    args: list[Any] = [tenant]
    if integration_id is not None:
        sql += " AND integration_id=?"
        args.append(integration_id)
    first: dict[str, list[float]] = {}
    acked: dict[str, list[float]] = {}
    for iid, to_first, to_ack in tx.conn.execute(sql, args):
        first.setdefault(iid, []).append(to_first)
        acked.setdefault(iid, [])
        if to_ack is not None:
            acked[iid].append(to_ack)
    return [{"integration_id": iid, "published_to_first_attempt_ms": _percentiles(first[iid]),
             "published_to_acknowledged_ms": _percentiles(acked[iid])} for iid in sorted(first)]


def event_row(tx: Tx, tenant: str, event_id: str) -> dict[str, Any] | None:
    """One outbox event as published."""
    row = tx.conn.execute(
        "SELECT id, name, published_at, payload FROM outbox WHERE tenant=? AND id=?",
        (tenant, event_id)).fetchone()
    if row is None:
        return None
    return {"tenant": tenant, "name": row[1], "published_at": row[2],
            "payload": json.loads(row[3]), "id": row[0]}
