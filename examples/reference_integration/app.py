"""The Flask app the Event Stream posts to (POST /events), with GET /health and GET /status."""

from __future__ import annotations

import hmac
import json
from typing import Any

from flask import Flask, Response, request
from processing import Processor


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def create_app(processor: Processor, api_key: str | None = None) -> Flask:
    """The webhook app; with `api_key`, POST /events needs `Authorization: Bearer <api_key>`."""
    app = Flask("reference_integration")

    @app.post("/events")
    def events() -> Response:
        if api_key:
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {api_key}".encode()):
                return _json({"error": "unauthorized"}, 401)
        try:
            envelope = json.loads(request.get_data() or b"")
        except (ValueError, UnicodeDecodeError) as exc:
            return _json({"error": "malformed JSON", "detail": str(exc)}, 400)
        if not isinstance(envelope, dict) or not isinstance(envelope.get("tenant"), str) \
                or not isinstance(envelope.get("name"), str) \
                or not isinstance(envelope.get("payload", {}), dict):
            return _json({"error": "not an Event Stream envelope {tenant, name, payload}"}, 400)
        outcome = processor.receive(envelope)
        return _json({"result": outcome.result, "detail": outcome.detail}, outcome.status)

    @app.get("/health")
    def health() -> Response:
        return _json({"status": "ok"})

    @app.get("/status")
    def status() -> Response:
        return _json(processor.status())

    return app
