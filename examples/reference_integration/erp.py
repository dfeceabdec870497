"""HTTP client for the ERP: tells "unavailable" (retry) from "duplicate" (done) from a bug (4xx)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

TIMEOUT = 5.0

# record type -> the ERP's collection
COLLECTIONS = {"cash_sale": "cash_sales", "sales_order": "sales_orders",
               "cash_refund": "cash_refunds", "credit_memo": "credit_memos"}


class ErpUnavailable(Exception):
    """The ERP did not take the record now (5xx, timeout, refused): retry later."""


class ErpRejected(Exception):
    """The ERP refused the record with a 4xx other than a duplicate: a bug in this integration."""


@dataclass(frozen=True)
class ErpWrite:
    """What the ERP did with a record: created it, or already had its external_id."""

    created: bool
    erp_id: str | None


class ErpClient:
    """Writes records to one ERP base URL, in the tenant named by each call."""

    def __init__(self, base_url: str, api_key: str, timeout: float = TIMEOUT) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self._http = requests.Session()

    def create(self, tenant: str, record_type: str, record: dict[str, Any]) -> ErpWrite:
        """POST the record; 409 duplicate_external_id counts as already recorded."""
        url = f"{self.base_url}/{COLLECTIONS[record_type]}"
        headers = {"Authorization": f"Bearer {self.api_key}", "tenant": tenant,
                   "Content-Type": "application/json", "Accept": "application/json"}
        try:
            r = self._http.post(url, json=record, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            raise ErpUnavailable(f"ERP unreachable: {exc}") from exc
        if r.status_code in (200, 201):
            return ErpWrite(created=True, erp_id=r.json().get("id"))
        body = _json(r)
        if r.status_code == 409 and body.get("error_code") == "duplicate_external_id":
            return ErpWrite(created=False, erp_id=body.get("existing_id"))
        if r.status_code >= 500 or r.status_code in (408, 429):
            raise ErpUnavailable(f"ERP answered {r.status_code}: {r.text[:200]}")
        raise ErpRejected(f"ERP answered {r.status_code}: {r.text[:500]}")


def _json(r: requests.Response) -> dict[str, Any]:
    try:
        body = r.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
