"""The running platform: settings, store, clock, ids and auth, shared by every domain call."""

from __future__ import annotations

from dataclasses import dataclass, field

from simulator.core.clock import Clock
from simulator.core.errors import NotFound, ValidationFailed
from simulator.core.faults import Faults
from simulator.core.ids import Ids
from simulator.core.journal import JournalWriter
from simulator.core.store import Store
from simulator.core.timers import TimerRunner
from simulator.eventstream.dispatcher import Dispatcher
from simulator.platform.auth import Auth
from simulator.platform.tenants import ensure_tenant, tenant_exists
from simulator.psp.provider import PaymentProvider
from simulator.settings import Settings, _valid_tenant


@dataclass
class Platform:
    """Everything a domain operation needs, created once per app."""

    settings: Settings
    store: Store
    clock: Clock
    ids: Ids
    auth: Auth
    dispatcher: Dispatcher
    journal: JournalWriter
    faults: Faults = field(init=False, repr=False)  # set by start(): needs the ids
    timers: TimerRunner = field(init=False, repr=False)  # set by start()
    psp: PaymentProvider = field(init=False, repr=False)  # set by start(), with its handlers
    # tenants known to exist; tenants are never deleted while the app runs
    _known: set[str] = field(default_factory=set, repr=False)

    @classmethod
    def start(cls, settings: Settings) -> Platform:
        """Open the store and make sure the configured tenants and clients exist."""
        store = Store(settings.db)
        clock = Clock(settings.clock_mode, settings.clock_scale)
        with store.tx() as tx:  # each start draws new ids: a restart must not reuse the last run's
            boot = int(tx.meta("boots") or 0) + 1
            tx.set_meta("boots", str(boot))
        platform = cls(settings=settings, store=store, clock=clock,
                       ids=Ids(settings.seed if boot == 1 else settings.seed * 1_000_003 + boot),
                       auth=Auth(store, clock, settings.token_ttl),
                       dispatcher=Dispatcher(store, clock, retry_profile=settings.retry_profile,
                                             timeout=settings.delivery_timeout,
                                             pause_after=settings.pause_after_failures,
                                             workers=settings.delivery_workers,
                                             seed=settings.seed, journal=settings.journal),
                       journal=JournalWriter(store, enabled=settings.journal))
        platform.faults = Faults(store, clock, settings.seed, platform.ids.uuid)
        platform.timers = TimerRunner(store, clock)
        platform.psp = PaymentProvider(clock, platform.timers, settings.seed)
        from simulator.platform import psp_bridge  # it needs Platform: imported here

        psp_bridge.install(platform)
        for tenant in settings.all_tenants:
            ensure_tenant(store, tenant, settings.seed, settings.world, clock)
        for client_id, secret in settings.api_clients:
            platform.auth.add_client(client_id, secret)
        return platform

    def require_tenant(self, tenant: str) -> str:
        """The tenant, created on first use when auto-creation is on."""
        if tenant in self._known:
            return tenant
        if not _valid_tenant(tenant):
            raise ValidationFailed(f"invalid tenant name {tenant!r}", error_code="invalid_tenant")
        if self.settings.auto_create_tenants:
            ensure_tenant(self.store, tenant, self.settings.seed, self.settings.world, self.clock)
        elif not tenant_exists(self.store, tenant):
            raise NotFound(f"tenant {tenant!r} does not exist", error_code="tenant_not_found")
        self._known.add(tenant)
        return tenant
