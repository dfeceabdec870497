"""API clients and access tokens, the way NewStore's Keycloak realms hand them out.

Tokens are JWTs signed with HS256 by a key kept in the store, so they survive a
restart and are checked without a lookup. Each token belongs to one tenant (realm).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

from simulator.core.clock import Clock
from simulator.core.errors import Forbidden, SimError, Unauthorized
from simulator.core.store import Store

DEMO_CLIENT_ID = "newstore-sim-demo"
VERIFIED_TOKENS = 4096  # signature-checked tokens kept (cleared when full)
SCOPE = "newstore:configuration:read newstore:configuration:write profile email"


class OAuthError(SimError):
    """An OAuth token request error, carrying the RFC 6749 error code."""

    status = 400
    title = "Bad Request"

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description, error_code=error, status=status,
                         extra={"error": error, "error_description": description})


@dataclass(frozen=True)
class Principal:
    """Who a valid token speaks for."""

    tenant: str
    client_id: str
    claims: dict[str, Any]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Auth:
    """Registers API clients, issues tokens and verifies them."""

    def __init__(self, store: Store, clock: Clock, ttl: int = 3600) -> None:
        self.store = store
        self.clock = clock
        self.ttl = ttl
        with store.tx() as tx:
            key = tx.meta("signing_key")
            if key is None:
                key = secrets.token_hex(32)
                tx.set_meta("signing_key", key)
        self._key = key.encode()
        # token -> its claims, for tokens whose signature was checked: a token is immutable
        # and the key never changes, so only expiry, type and tenant are checked again
        self._verified: dict[str, dict[str, Any]] = {}

    # -- clients ------------------------------------------------------------------------

    def add_client(self, client_id: str, secret: str, demo: bool = False) -> None:
        """Register (or update) an API client valid in every tenant."""
        with self.store.tx() as tx:
            tx.conn.execute(
                "INSERT OR REPLACE INTO api_clients (client_id, secret, demo) VALUES (?, ?, ?)",
                (client_id, secret, int(demo)))

    def ensure_demo_client(self) -> tuple[str, str]:
        """The demo client, created once and kept across restarts."""
        with self.store.tx() as tx:
            row = tx.conn.execute(
                "SELECT client_id, secret FROM api_clients WHERE demo=1").fetchone()
            if row:
                return row[0], row[1]
            secret = secrets.token_urlsafe(24)
            tx.conn.execute(
                "INSERT OR REPLACE INTO api_clients (client_id, secret, demo) VALUES (?, ?, 1)",
                (DEMO_CLIENT_ID, secret))
            return DEMO_CLIENT_ID, secret

    def check_client(self, client_id: str, secret: str) -> bool:
        """Whether the id and secret belong to a registered client."""
        with self.store.read() as tx:
            row = tx.conn.execute(
                "SELECT secret FROM api_clients WHERE client_id=?", (client_id,)).fetchone()
        return row is not None and hmac.compare_digest(row[0], secret)

    # -- tokens -------------------------------------------------------------------------

    def grant(self, tenant: str, form: dict[str, str], *, legacy: bool, issuer: str
              ) -> dict[str, Any]:
        """Answer a token request: client_credentials, or password on the legacy endpoint."""
        grant_type = form.get("grant_type")
        if not grant_type:
            raise OAuthError("invalid_request", "Missing form parameter: grant_type")
        if grant_type == "client_credentials":
            client_id, secret = form.get("client_id"), form.get("client_secret")
        elif grant_type == "password" and legacy:
            client_id, secret = form.get("username"), form.get("password")
        else:
            raise OAuthError("unsupported_grant_type", f"Unsupported grant_type {grant_type!r}")
        if not client_id or not secret:
            missing = "client_id" if grant_type == "client_credentials" else "username"
            if client_id:
                missing = "client_secret" if grant_type == "client_credentials" else "password"
            raise OAuthError("invalid_request", f"Missing form parameter: {missing}")
        if not self.check_client(client_id, secret):
            error = "unauthorized_client" if grant_type == "client_credentials" else \
                "invalid_grant"
            raise OAuthError(error, "Invalid client or Invalid client credentials", status=401)
        token = self.issue(tenant, client_id, issuer)
        answer: dict[str, Any] = {
            "access_token": token,
            "expires_in": self.ttl,
            "refresh_expires_in": 0,
            "token_type": "Bearer",
            "not-before-policy": 0,
            "scope": SCOPE,
        }
        if legacy and grant_type == "password":
            answer["refresh_token"] = self.issue(tenant, client_id, issuer, typ="Refresh")
            answer["refresh_expires_in"] = self.ttl * 2
        return answer

    def issue(self, tenant: str, client_id: str, issuer: str, typ: str = "Bearer") -> str:
        """A signed JWT for the tenant."""
        now = int(self.clock.timestamp())
        ttl = self.ttl * 2 if typ == "Refresh" else self.ttl
        claims = {
            "exp": now + ttl, "iat": now, "jti": secrets.token_hex(16),
            "iss": f"{issuer}/auth/realms/{tenant}", "aud": "account", "sub": client_id,
            "typ": typ, "azp": client_id, "tenant": tenant, "scope": SCOPE,
            "clientId": client_id,
        }
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signature = hmac.new(self._key, f"{header}.{body}".encode(), hashlib.sha256).digest()
        return f"{header}.{body}.{_b64(signature)}"

    def verify(self, token: str | None, tenant: str) -> Principal:
        """Check a bearer token for a tenant: missing is 401, anything wrong is 403."""
        if not token:
            raise Unauthorized("No authorization token provided", error_code="unauthorized")
        claims = self._verified.get(token)
        if claims is None:
            claims = self._signed_claims(token)
            if len(self._verified) >= VERIFIED_TOKENS:
                self._verified.clear()
            self._verified[token] = claims
        if claims.get("typ") != "Bearer":
            raise Forbidden("The access token is invalid", error_code="invalid_token")
        if claims.get("exp", 0) <= self.clock.timestamp():
            raise Forbidden("The access token has expired", error_code="token_expired")
        if claims.get("tenant") != tenant:
            raise Forbidden(f"The access token was not issued for tenant {tenant!r}",
                            error_code="invalid_token")
        return Principal(tenant=tenant, client_id=claims.get("sub", ""), claims=dict(claims))

    def _signed_claims(self, token: str) -> dict[str, Any]:
        """A token's claims when it is a JWT signed with our key (403 otherwise)."""
        try:
            header, body, signature = token.split(".")
            expected = hmac.new(self._key, f"{header}.{body}".encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(_unb64(signature), expected):
                raise ValueError("bad signature")
            claims = json.loads(_unb64(body))
            if not isinstance(claims, dict):
                raise TypeError("claims are not an object")
        except (ValueError, TypeError):
            raise Forbidden("The access token is invalid", error_code="invalid_token") from None
        return claims
