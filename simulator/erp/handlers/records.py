"""ERP record handlers: one thin function per operationId, all over simulator.erp.records."""

from __future__ import annotations

from typing import Any

from simulator.erp import records
from simulator.web import platform, tenant

Reply = tuple[dict[str, Any], int]


def _create(record_type: str, body: dict[str, Any]) -> Reply:
    p = platform()
    return records.create(p.store, p.clock, tenant(), record_type, body), 201


def _list(record_type: str, filters: dict[str, Any]) -> dict[str, Any]:
    chosen = {k: filters[k] for k in ("external_id", "newstore_order_id", "newstore_return_id",
                                      "limit") if filters.get(k) is not None}
    found, total = records.list_records(platform().store, tenant(), record_type, **chosen)
    return {"records": found, "total": total}


def _get(record_type: str, record_id: str) -> dict[str, Any]:
    return records.get(platform().store, tenant(), record_type, record_id)


def create_cash_sale(body: dict[str, Any]) -> Reply:
    """An in-store purchase (order.opened) recorded as a cash sale."""
    return _create("cash_sales", body)


def create_sales_order(body: dict[str, Any]) -> Reply:
    """An endless-aisle order recorded as a sales order."""
    return _create("sales_orders", body)


def create_cash_refund(body: dict[str, Any]) -> Reply:
    """A return or an appeasement recorded as a cash refund."""
    return _create("cash_refunds", body)


def create_credit_memo(body: dict[str, Any]) -> Reply:
    """A cancellation recorded as a credit memo."""
    return _create("credit_memos", body)


def list_cash_sales(**filters: Any) -> dict[str, Any]:
    """Cash sales, newest first, optionally filtered."""
    return _list("cash_sales", filters)


def list_sales_orders(**filters: Any) -> dict[str, Any]:
    """Sales orders, newest first, optionally filtered."""
    return _list("sales_orders", filters)


def list_cash_refunds(**filters: Any) -> dict[str, Any]:
    """Cash refunds, newest first, optionally filtered."""
    return _list("cash_refunds", filters)


def list_credit_memos(**filters: Any) -> dict[str, Any]:
    """Credit memos, newest first, optionally filtered."""
    return _list("credit_memos", filters)


def get_cash_sale(record_id: str) -> dict[str, Any]:
    """One cash sale by its ERP id."""
    return _get("cash_sales", record_id)


def get_sales_order(record_id: str) -> dict[str, Any]:
    """One sales order by its ERP id."""
    return _get("sales_orders", record_id)


def get_cash_refund(record_id: str) -> dict[str, Any]:
    """One cash refund by its ERP id."""
    return _get("cash_refunds", record_id)


def get_credit_memo(record_id: str) -> dict[str, Any]:
    """One credit memo by its ERP id."""
    return _get("credit_memos", record_id)
