"""Typed settings: defaults, then SIM_* environment variables, then explicit overrides."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from simulator.eventstream import profiles

OPENAPI_DIR = Path(__file__).resolve().parent.parent / "openapi"


@dataclass(frozen=True)
class WorldSize:
    """How much a generated tenant world holds."""

    products: int = 200
    stores: int = 10
    customers: int = 100
    orders: int = 500


@dataclass(frozen=True)
class Settings:
    """Everything the simulator can be told; nothing else reads the environment."""

    host: str = "127.0.0.1"
    port: int = 8082
    db: str = "./newstore-sim.db"
    seed: int = 42
    tenant: str = "dodici"
    # extra tenants generated at start-up besides the default one and the demo tenant
    tenants: tuple[str, ...] = ()
    # (client_id, client_secret) pairs valid in every tenant
    api_clients: tuple[tuple[str, str], ...] = ()
    token_ttl: int = 3600
    world: WorldSize = field(default_factory=WorldSize)
    # unknown tenants named by a Host or tenant header get a generated world on first use
    auto_create_tenants: bool = True
    validate_responses: bool = False
    # reuse a GraphQL response while the rows it read are unchanged (checked on every hit)
    graphql_response_cache: bool = True
    openapi_dir: Path = OPENAPI_DIR
    # clock: "real", "scaled" or "manual"; scale applies to "scaled"
    clock_mode: str = "real"
    clock_scale: float = 1.0
    # Event Stream: run the dispatcher in this process; global delivery defaults that each
    # integration may override (its `simulator` settings)
    dispatch: bool = True
    retry_profile: str = "realistic"
    delivery_timeout: float = 10.0
    pause_after_failures: int = 50
    delivery_workers: int = 16
    # a token that /_sim calls must carry as `Authorization: Bearer ...`; empty: open
    control_token: str = ""
    # the mock ERP's API key (`Authorization: Bearer <key>`); empty: any non-empty key
    erp_api_key: str = ""
    # the journal of every request received and sent (/_sim/journal); bodies kept up to a limit
    journal: bool = True
    journal_body_limit: int = 16384

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError(f"port must be between 1 and 65535, got {self.port}")
        if self.token_ttl <= 0:
            raise ValueError("token_ttl must be positive")
        if self.clock_mode not in {"real", "scaled", "manual"}:
            raise ValueError(f"clock_mode must be real, scaled or manual, got {self.clock_mode!r}")
        if not self.clock_scale > 0:
            raise ValueError(f"clock_scale must be positive, got {self.clock_scale!r}")
        if self.journal_body_limit < 0:
            raise ValueError("journal_body_limit must be 0 or more")
        if self.retry_profile not in profiles.named():
            raise ValueError(f"unknown retry profile {self.retry_profile!r}; known: "
                             f"{', '.join(sorted(profiles.named()))}")
        if self.delivery_timeout <= 0:
            raise ValueError("delivery_timeout must be positive")
        if self.pause_after_failures < 1 or self.delivery_workers < 1:
            raise ValueError("pause_after_failures and delivery_workers must be at least 1")
        if not self.tenant or not _valid_tenant(self.tenant):
            raise ValueError(f"invalid tenant name {self.tenant!r}")

    @property
    def all_tenants(self) -> tuple[str, ...]:
        """The tenants created at start-up: the default, the demo tenant and any extra ones."""
        names = [self.tenant, DEMO_TENANT, *self.tenants]
        return tuple(dict.fromkeys(names))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from SIM_* variables, then apply explicit overrides."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        simple = {f.name: f for f in fields(cls)}
        for name in ("host", "db", "tenant", "retry_profile", "control_token",
                     "erp_api_key"):
            if f"SIM_{name.upper()}" in env:
                values[name] = env[f"SIM_{name.upper()}"]
        for name in ("port", "seed", "token_ttl", "pause_after_failures", "delivery_workers",
                     "journal_body_limit"):
            key = f"SIM_{name.upper()}"
            if key in env:
                values[name] = _int(key, env[key])
        if "SIM_TENANTS" in env:
            values["tenants"] = tuple(t for t in env["SIM_TENANTS"].split(",") if t.strip())
        if "SIM_API_CLIENTS" in env:
            values["api_clients"] = parse_api_clients(env["SIM_API_CLIENTS"].split(","))
        if "SIM_DELIVERY_TIMEOUT" in env:
            try:
                values["delivery_timeout"] = float(env["SIM_DELIVERY_TIMEOUT"])
            except ValueError:
                raise ValueError("SIM_DELIVERY_TIMEOUT must be a number of seconds") from None
        for name in ("auto_create_tenants", "graphql_response_cache", "dispatch", "journal"):
            key = f"SIM_{name.upper()}"
            if key in env:
                values[name] = env[key].lower() in {"1", "true", "yes", "on"}
        if "SIM_CLOCK_MODE" in env:
            values["clock_mode"] = env["SIM_CLOCK_MODE"]
        if "SIM_CLOCK_SCALE" in env:
            try:
                values["clock_scale"] = float(env["SIM_CLOCK_SCALE"])
            except ValueError:
                raise ValueError("SIM_CLOCK_SCALE must be a number") from None
        sizes = {}
        for name in ("products", "stores", "customers", "orders"):
            key = f"SIM_WORLD_{name.upper()}"
            if key in env:
                sizes[name] = _int(key, env[key])
        if sizes:
            values["world"] = WorldSize(**sizes)
        unknown = set(overrides) - set(simple)
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    def with_(self, **changes: object) -> Settings:
        """A copy with some fields changed."""
        return replace(self, **changes)  # type: ignore[arg-type]


DEMO_TENANT = "dodici"


def parse_api_clients(items: list[str] | tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """Parse ID:SECRET strings; an item without a colon is an error."""
    clients = []
    for item in items:
        item = item.strip()
        if not item:
            continue
        client_id, sep, secret = item.partition(":")
        if not sep or not client_id or not secret:
            raise ValueError(f"api client must be ID:SECRET, got {item!r}")
        clients.append((client_id, secret))
    return tuple(clients)


def _int(key: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{key} must be an integer, got {raw!r}") from None


def _valid_tenant(name: str) -> bool:
    return all(c.isalnum() or c in "-_" for c in name) and len(name) <= 63


def client_env(env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """Where client commands (`emit`) find a running simulator: SIM_URL, SIM_CONTROL_TOKEN."""
    env = os.environ if env is None else env
    return env.get("SIM_URL") or "http://127.0.0.1:8082", env.get("SIM_CONTROL_TOKEN", "")
