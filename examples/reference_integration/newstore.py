"""HTTP client for NewStore (the simulator): tokens per tenant, GraphQL, Event Stream setup."""

from __future__ import annotations

import threading
import time
from typing import Any

import requests

TIMEOUT = 5.0
TOKEN_MARGIN = 30.0  # refresh a token this many seconds before it expires


class NewStoreUnavailable(Exception):
    """NewStore could not answer now (5xx, timeout, refused, GraphQL error): retry later."""


class NewStoreClient:
    """Talks to one NewStore base URL on behalf of any tenant (the `tenant` header)."""

    def __init__(self, base_url: str, client_id: str, client_secret: str,
                 timeout: float = TIMEOUT) -> None:
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.timeout = timeout
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._http = requests.Session()

    # -- auth -------------------------------------------------------------------------------

    def token(self, tenant: str) -> str:
        """A client-credentials access token for the tenant, cached until shortly before expiry."""
        with self._lock:
            cached = self._tokens.get(tenant)
            if cached and cached[1] > time.monotonic():
                return cached[0]
        url = f"{self.base_url}/auth/realms/{tenant}/protocol/openid-connect/token"
        try:
            r = self._http.post(url, data={"grant_type": "client_credentials",
                                           "client_id": self.client_id,
                                           "client_secret": self.client_secret},
                                headers={"Accept": "application/json", "tenant": tenant},
                                timeout=self.timeout)
        except requests.RequestException as exc:
            raise NewStoreUnavailable(f"token endpoint unreachable: {exc}") from exc
        if r.status_code != 200:
            raise NewStoreUnavailable(f"token endpoint answered {r.status_code}: {r.text[:200]}")
        body = r.json()
        lifetime = float(body.get("expires_in") or 300)
        with self._lock:
            self._tokens[tenant] = (body["access_token"],
                                    time.monotonic() + max(lifetime - TOKEN_MARGIN, 1.0))
        return body["access_token"]

    def forget_token(self, tenant: str) -> None:
        with self._lock:
            self._tokens.pop(tenant, None)

    def _call(self, method: str, tenant: str, path: str,
              json: Any = None) -> requests.Response:
        """One authenticated call; a 401/403 (token expired on NewStore's clock) retries once."""
        for attempt in (1, 2):
            headers = {"tenant": tenant, "Authorization": f"Bearer {self.token(tenant)}",
                       "Content-Type": "application/json", "Accept": "application/json"}
            try:
                r = self._http.request(method, f"{self.base_url}{path}", json=json,
                                       headers=headers, timeout=self.timeout)
            except requests.RequestException as exc:
                raise NewStoreUnavailable(f"{method} {path}: {exc}") from exc
            if r.status_code in (401, 403) and attempt == 1:
                self.forget_token(tenant)
                continue
            return r
        return r

    # -- GraphQL ----------------------------------------------------------------------------

    def graphql(self, tenant: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        """The `data` of a GraphQL query; any error is NewStoreUnavailable (retry later)."""
        r = self._call("POST", tenant, "/api/v1/org/data/query",
                       json={"query": query, "variables": variables})
        if r.status_code != 200:
            raise NewStoreUnavailable(f"GraphQL answered {r.status_code}: {r.text[:200]}")
        body = r.json()
        if body.get("errors"):
            raise NewStoreUnavailable(f"GraphQL errors: {body['errors']}")
        return body.get("data") or {}

    # -- Event Stream -------------------------------------------------------------------------

    def register_integration(self, tenant: str, integration_id: str, callback_url: str,
                             api_key: str | None, event_filter: list[str],
                             retry_profile: str | None) -> dict[str, Any]:
        """Create the integration, or PATCH it (and start it) when it exists already."""
        callback: dict[str, Any] = {"callback_url": callback_url}
        if api_key:
            callback["api_key"] = api_key
        body: dict[str, Any] = {"id": integration_id, "callback_parameters": callback,
                                "filter_conditions": {"event_filter": event_filter,
                                                      "entity_filter": []}}
        if retry_profile:
            body["simulator"] = {"retry_profile": retry_profile}
        path = "/api/v1/org/integrations/eventstream"
        r = self._call("POST", tenant, path, json=body)
        if r.status_code == 409:
            patch = {k: v for k, v in body.items() if k != "id"}
            if not api_key:
                patch["callback_parameters"] = {**callback, "api_key": None}
            r = self._call("PATCH", tenant, f"{path}/{integration_id}", json=patch)
            if r.status_code == 200 and r.json().get("status") != "running":
                self._call("POST", tenant, f"{path}/{integration_id}/_start", json={})
        if r.status_code not in (200, 201):
            raise NewStoreUnavailable(
                f"registering {integration_id} in {tenant}: {r.status_code} {r.text[:300]}")
        return r.json()
