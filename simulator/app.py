"""create_app(settings): the one place where specs, handlers and middleware are wired."""

from __future__ import annotations

import copy
import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import yaml
from connexion import FlaskApp
from connexion.exceptions import ProblemException
from connexion.middleware import MiddlewarePosition
from connexion.options import SwaggerUIOptions
from connexion.resolver import RelativeResolver
from starlette.exceptions import HTTPException

from simulator import problems
from simulator.control.security import SECURITY_MAP as CONTROL_SECURITY
from simulator.core.errors import SimError
from simulator.platform.context import Platform
from simulator.settings import Settings
from simulator.web import (
    NEVER_FAULTED,
    PLATFORM_SECURITY,
    VALIDATORS,
    FastJsonifier,
    FaultMiddleware,
    JournalMiddleware,
    PlatformMiddleware,
)

log = logging.getLogger(__name__)


@functools.cache
def _parsed(path: Path) -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: 5x faster
    return yaml.load(path.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506


def spec(path: Path) -> dict[str, Any]:
    """An OpenAPI document, parsed once per process (apps in tests are many)."""
    return copy.deepcopy(_parsed(path))


def _operation_ids(document: dict[str, Any]) -> set[str]:
    """Every operationId of an OpenAPI document."""
    return {op["operationId"] for item in document.get("paths", {}).values()
            for op in item.values() if isinstance(op, dict) and "operationId" in op}


# every spec the app serves: the platform at /, the control plane at /_sim (optional control
# token), the mock ERP at /erp (its own API key), the mock OMS at /oms (the webhook contract)
APIS: list[tuple[str, str, dict[str, Any]]] = [
    ("newstore.yaml", "simulator.platform.handlers", {"security_map": PLATFORM_SECURITY}),
    ("control.yaml", "simulator.control", {"security_map": CONTROL_SECURITY}),
    ("erp.yaml", "simulator.erp.handlers", {}),
    ("external-oms.yaml", "simulator.oms.handlers", {}),
]


def create_app(settings: Settings | None = None, platform: Platform | None = None) -> FlaskApp:
    """Build the simulator's ASGI app over a started platform."""
    settings = settings or Settings.from_env()
    platform = platform or Platform.start(settings)

    @asynccontextmanager
    async def lifespan(_app: object) -> AsyncIterator[None]:
        """The Event Stream dispatcher runs while the server serves."""
        if settings.dispatch:
            platform.dispatcher.start()
        platform.timers.start()  # PSP delays and other clock transitions
        platform.journal.start()  # batches the journal of incoming calls
        try:
            yield
        finally:
            platform.timers.stop()
            platform.journal.stop()
            platform.dispatcher.stop()

    # compact JSON, as NewStore sends it (Connexion's default indent=2 forces the pure-Python
    # encoder, which cost more than the rest of an order read), written by orjson
    app = FlaskApp(__name__, specification_dir=str(settings.openapi_dir),
                   jsonifier=FastJsonifier(), lifespan=lifespan)
    for spec_file, handlers, extra in APIS:
        app.add_api(
            spec(settings.openapi_dir / spec_file),
            resolver=RelativeResolver(handlers),
            strict_validation=True,
            validator_map=VALIDATORS,
            validate_responses=settings.validate_responses,
            swagger_ui_options=SwaggerUIOptions(swagger_ui_path="/docs"),
            **extra,
        )
    # outside Connexion's exception handling, so it records the answer the caller got
    app.add_middleware(JournalMiddleware, position=MiddlewarePosition.BEFORE_EXCEPTION,
                       platform=platform)
    app.add_middleware(PlatformMiddleware, position=MiddlewarePosition.BEFORE_SWAGGER,
                       platform=platform)
    # faults need the routed operationId, and fail a call whatever its credentials
    app.add_middleware(FaultMiddleware, position=MiddlewarePosition.BEFORE_SECURITY,
                       platform=platform)
    platform.faults.register_operations(
        "platform", _operation_ids(_parsed(settings.openapi_dir / "newstore.yaml")) - NEVER_FAULTED)
    platform.faults.register_operations(
        "erp", _operation_ids(_parsed(settings.openapi_dir / "erp.yaml")))
    app.add_error_handler(SimError, problems.sim_error)
    app.add_error_handler(ProblemException, problems.connexion_problem)
    app.add_error_handler(HTTPException, problems.http_error)
    app.add_error_handler(Exception, problems.unexpected)
    app.app.extensions["newstore_sim"] = platform
    app.platform = platform  # type: ignore[attr-defined]
    return app
