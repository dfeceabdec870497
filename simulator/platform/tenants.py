"""Tenants and their generated worlds."""

from __future__ import annotations

from simulator.core import faults
from simulator.core.clock import Clock, iso
from simulator.core.errors import ValidationFailed
from simulator.core.store import Store, Tx
from simulator.core.world import World, WorldBuilder, tenant_seed
from simulator.platform import entities as E
from simulator.settings import WorldSize


def tenant_exists(store: Store, tenant: str) -> bool:
    """Whether the tenant has been created."""
    with store.read() as tx:
        return tx.conn.execute(
            "SELECT 1 FROM tenants WHERE name=?", (tenant,)).fetchone() is not None


def list_tenants(store: Store) -> list[str]:
    """All tenant names, sorted."""
    with store.read() as tx:
        return [r[0] for r in tx.conn.execute("SELECT name FROM tenants ORDER BY name")]


def ensure_tenant(store: Store, tenant: str, seed: int, size: WorldSize, clock: Clock) -> bool:
    """Create the tenant with its generated world unless it exists; True when created."""
    if tenant_exists(store, tenant):
        return False
    world = WorldBuilder(tenant, seed, products=size.products, stores=size.stores,
                         customers=size.customers, orders=size.orders).build()
    with store.tx() as tx:
        if tx.conn.execute("SELECT 1 FROM tenants WHERE name=?", (tenant,)).fetchone():
            return False
        tx.conn.execute("INSERT INTO tenants (name, seed, created_at) VALUES (?, ?, ?)",
                        (tenant, tenant_seed(seed, tenant), iso(clock.now())))
        write_world(tx, world)
    return True


# per-tenant meta key holding the seed its world was generated from (set by POST /_sim/seed)
_SEED_KEY = "tenant_seed:"
_KEY_KEY = "tenant_world_key:"  # and the key its draws were keyed on ("" for its name)
# tables with a tenant column that a reset keeps (every other one is emptied for the tenant:
# entities of all kinds, outbox, deliveries, attempts, timers, journal, and tables added later)
KEEP_TABLES = frozenset({"tenants", "api_clients", "meta"})


def world_seed(tx: Tx, tenant: str, default: int) -> int:
    """The seed a tenant's world comes from: the one last given to it, else the default."""
    value = tx.meta(_SEED_KEY + tenant)
    return int(value) if value is not None else default


def tenant_tables(tx: Tx) -> list[str]:
    """Every table with a `tenant` column that a reset empties for the tenant."""
    names = [r[0] for r in tx.conn.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
        " ORDER BY name")]
    return [n for n in names if n not in KEEP_TABLES
            and any(c[1] == "tenant" for c in tx.conn.execute(f"PRAGMA table_info({n})"))]


def world_key(tx: Tx, tenant: str) -> str | None:
    """The key a tenant's world was drawn with (POST /_sim/seed `key`), None for its name."""
    return tx.meta(_KEY_KEY + tenant)


def reset_tenant(store: Store, tenant: str, seed: int, sizes: WorldSize,
                 clock: Clock, key: str | None = None) -> dict[str, int]:
    """Delete everything a tenant holds and regenerate its world from `seed` (drawn with
    `key`, default the tenant's name), in one transaction; answers how many documents of
    each kind the new world has."""
    if seed < 0:
        raise ValidationFailed("seed must be 0 or more", field="seed")
    world = WorldBuilder(tenant, seed, products=sizes.products, stores=sizes.stores,
                         customers=sizes.customers, orders=sizes.orders, key=key).build()
    with store.tx() as tx:
        for table in tenant_tables(tx):
            tx.conn.execute(f"DELETE FROM {table} WHERE tenant=?", (tenant,))  # noqa: S608
        tx.after_commit(lambda: faults.invalidate(store, tenant))  # its cache of fault rules
        tx.conn.execute("INSERT OR REPLACE INTO tenants (name, seed, created_at) VALUES (?, ?, ?)",
                        (tenant, tenant_seed(seed, tenant), iso(clock.now())))
        tx.set_meta(_SEED_KEY + tenant, str(seed))
        tx.set_meta(_KEY_KEY + tenant, key or "")
        write_world(tx, world)
    return {"products": len(world.products), "locations": len(world.locations),
            "customers": len(world.customers), "orders": len(world.orders),
            "payment_accounts": len(world.payment_accounts),
            "fulfillment_requests": len(world.fulfillment_requests),
            "returns": len(world.returns), "refunds": len(world.refunds)}


def write_world(tx, world: World) -> None:  # type: ignore[no-untyped-def]
    """Store every document of a generated world."""
    t = world.tenant
    for kind, docs in (
        (E.PRODUCT, world.products), (E.LOCATION, world.locations),
        (E.CUSTOMER, world.customers), (E.ORDER, world.orders),
        (E.PAYMENT_ACCOUNT, world.payment_accounts),
        (E.FULFILLMENT_REQUEST, world.fulfillment_requests),
        (E.RETURN, world.returns), (E.REFUND, world.refunds), (E.STOCK, world.stock),
    ):
        for doc in docs:
            E.save(tx, t, kind, doc)
