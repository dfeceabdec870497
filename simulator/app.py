"""create_app(settings): the one place where specs, handlers and middleware are wired."""

from __future__ import annotations

import logging

import flask
from connexion import FlaskApp
from connexion.exceptions import ProblemException
from connexion.jsonifier import Jsonifier
from connexion.middleware import MiddlewarePosition
from connexion.options import SwaggerUIOptions
from connexion.resolver import RelativeResolver
from starlette.exceptions import HTTPException

from simulator import problems
from simulator.core.errors import SimError
from simulator.platform.context import Platform
from simulator.settings import Settings
from simulator.web import VALIDATORS, PlatformMiddleware

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, platform: Platform | None = None) -> FlaskApp:
    """Build the simulator's ASGI app over a started platform."""
    settings = settings or Settings.from_env()
    platform = platform or Platform.start(settings)
    # Compact JSON, as NewStore sends it: Connexion's default indent=2 forces the pure-Python
    # encoder, which cost more than the rest of an order read
    app = FlaskApp(__name__, specification_dir=str(settings.openapi_dir),
                   jsonifier=Jsonifier(flask.json))
    app.add_api(
        "newstore.yaml",
        resolver=RelativeResolver("simulator.platform.handlers"),
        strict_validation=True,
        validator_map=VALIDATORS,
        validate_responses=settings.validate_responses,
        swagger_ui_options=SwaggerUIOptions(swagger_ui_path="/docs"),
    )
    app.add_middleware(PlatformMiddleware, position=MiddlewarePosition.BEFORE_SWAGGER,
                       platform=platform)
    app.add_error_handler(SimError, problems.sim_error)
    app.add_error_handler(ProblemException, problems.connexion_problem)
    app.add_error_handler(HTTPException, problems.http_error)
    app.add_error_handler(Exception, problems.unexpected)
    app.app.extensions["newstore_sim"] = platform
    app.platform = platform  # type: ignore[attr-defined]
    return app
