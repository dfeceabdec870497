"""HTTP access to a running simulator: its control plane, the platform API with a token per
tenant, the mock ERP. The scenario engine knows the simulator only through this."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import requests

TIMEOUT = 15.0
RUNNER_AGENT = "newstore-sim-runner"  # the journal tells the runner's calls from the target's


class SimUnreachable(Exception):
    """The simulator did not answer at all."""


@dataclass
class Answer:
    """One HTTP answer: status, parsed body (JSON, else text) and how long it took."""

    status: int
    body: Any
    seconds: float
    method: str = ""
    url: str = ""

    def ok(self) -> bool:
        return 200 <= self.status < 300

    def describe(self) -> str:
        """`POST /path -> 409 detail`: what a failure message shows of it."""
        detail = ""
        if isinstance(self.body, dict):
            detail = self.body.get("detail") or self.body.get("title") or ""
            if self.body.get("error_code"):
                detail = f"{self.body['error_code']}: {detail}"
        elif isinstance(self.body, str):
            detail = self.body[:200]
        return f"{self.method} {self.url} -> {self.status}" + (f" {detail}" if detail else "")


class SimClient:
    """A thread-safe client of one simulator."""

    def __init__(self, url: str, *, client_id: str | None = None,
                 client_secret: str | None = None, control_token: str | None = None,
                 erp_api_key: str = "newstore-sim-scenarios") -> None:
        self.url = url.rstrip("/")
        self.client_id, self.client_secret = client_id, client_secret
        self.control_token, self.erp_api_key = control_token, erp_api_key
        self._local = threading.local()
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    @property
    def session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
            self._local.session.headers["User-Agent"] = RUNNER_AGENT
        return self._local.session

    def call(self, method: str, path: str, *, headers: dict[str, str] | None = None,
             json: Any = None, params: dict[str, Any] | None = None,
             data: dict[str, str] | None = None) -> Answer:
        """One request to the simulator; connection failures raise SimUnreachable."""
        url = self.url + path
        started = time.perf_counter()
        try:
            r = self.session.request(method, url, headers=headers, json=json, params=params,
                                     data=data, timeout=TIMEOUT)
        except requests.RequestException as e:
            raise SimUnreachable(f"{method} {url}: {e}") from None
        seconds = time.perf_counter() - started
        try:
            body = r.json() if r.content else None
        except ValueError:
            body = r.text
        return Answer(r.status_code, body, seconds, method, path)

    def control(self, method: str, path: str, tenant: str, **kw: Any) -> Answer:
        """A /_sim call for the tenant."""
        headers = {"tenant": tenant}
        if self.control_token:
            headers["Authorization"] = f"Bearer {self.control_token}"
        return self.call(method, "/_sim" + path, headers=headers, **kw)

    def token(self, tenant: str) -> str:
        """A platform access token for the tenant (client credentials, cached)."""
        with self._lock:
            cached = self._tokens.get(tenant)
            if cached and cached[1] > time.monotonic() + 30:
                return cached[0]
        if not self.client_id:
            raise SimUnreachable("no API client: give --client-id/--client-secret (or "
                                 "NEWSTORE_SIM_CLIENT_ID / NEWSTORE_SIM_CLIENT_SECRET)")
        answer = self.call("POST", f"/auth/realms/{tenant}/protocol/openid-connect/token",
                           data={"grant_type": "client_credentials",
                                 "client_id": self.client_id,
                                 "client_secret": self.client_secret or ""})
        if not answer.ok():
            raise SimUnreachable(f"cannot get a token for tenant {tenant}: "
                                 f"{answer.describe()}")
        token = answer.body["access_token"]
        with self._lock:
            self._tokens[tenant] = (token, time.monotonic() + answer.body.get("expires_in", 300))
        return token

    def platform(self, method: str, path: str, tenant: str, **kw: Any) -> Answer:
        """A platform API call as an integration makes it (bearer token, tenant header)."""
        headers = {"tenant": tenant, "Authorization": f"Bearer {self.token(tenant)}"}
        return self.call(method, path, headers=headers, **kw)

    def erp(self, method: str, path: str, tenant: str, **kw: Any) -> Answer:
        """A mock ERP call (reading what the integration recorded)."""
        headers = {"tenant": tenant, "Authorization": f"Bearer {self.erp_api_key}"}
        return self.call(method, "/erp" + path, headers=headers, **kw)

    def oms(self, method: str, path: str, tenant: str, **kw: Any) -> Answer:
        """A mock OMS call."""
        return self.call(method, "/oms" + path, headers={"tenant": tenant,
                                                         "Authorization": "scenario"}, **kw)

    def api(self, api: str, method: str, path: str, tenant: str, **kw: Any) -> Answer:
        """Dispatch by API name: platform, control, erp or oms."""
        return {"platform": self.platform, "control": self.control, "erp": self.erp,
                "oms": self.oms}[api](method, path, tenant, **kw)

    def graphql(self, tenant: str, query: str, variables: dict[str, Any] | None = None
                ) -> Answer:
        return self.platform("POST", "/api/v1/org/data/query", tenant,
                             json={"query": query, "variables": variables or {}})

    def healthy(self) -> bool:
        try:
            return self.call("GET", "/health").status == 200
        except SimUnreachable:
            return False
