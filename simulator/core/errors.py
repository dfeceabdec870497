"""Domain errors; one place in the web layer renders them as application/problem+json."""

from __future__ import annotations

from typing import Any


class SimError(Exception):
    """Base of every error the simulator answers with; class attributes give the defaults."""

    status: int = 400
    title: str = "Bad Request"
    error_code: str | None = None

    def __init__(
        self,
        detail: str,
        *,
        error_code: str | None = None,
        status: int | None = None,
        field: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if error_code is not None:
            self.error_code = error_code
        if status is not None:
            self.status = status
        self.field = field
        self.extra = extra or {}

    @property
    def status_code(self) -> int:
        """Connexion's security layer reads status_code to pick the most specific error."""
        return self.status


class ValidationFailed(SimError):
    """The request was well-formed but broke a documented rule."""

    status = 400
    title = "Bad Request"
    error_code = "validation_error"


class NotFound(SimError):
    """A resource the request names does not exist in this tenant."""

    status = 404
    title = "Not Found"
    error_code = "not_found"


class Conflict(SimError):
    """The request clashes with current state (versions, idempotency keys)."""

    status = 409
    title = "Conflict"
    error_code = "conflict"


class Unauthorized(SimError):
    """No credentials were sent."""

    status = 401
    title = "Unauthorized"
    error_code = "unauthorized"


class Forbidden(SimError):
    """Credentials were sent but are invalid, expired or for another tenant."""

    status = 403
    title = "Forbidden"
    error_code = "forbidden"
