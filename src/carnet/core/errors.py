"""Domain errors: one shape for every failure a user can cause.

Services raise these; the API renders them as RFC 9457 problem details and the UI shows the message
next to the field. Messages are English source strings, translated when rendered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class FieldError:
    field: str
    message: str
    code: str = "invalid"
    params: dict[str, Any] = field(default_factory=dict)

    def as_dict(self, translate: Any = None) -> dict[str, Any]:
        msg = translate(self.message, **self.params) if translate else self.message.format(**self.params)
        return {"field": self.field, "code": self.code, "message": msg}


class DomainError(Exception):
    status = 400
    code = "bad_request"
    title = "Bad request"

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
        **params: Any,
    ) -> None:
        self.message = message or self.title
        if code:
            self.code = code
        self.errors = errors or []
        self.headers = headers or {}
        self.params = params
        super().__init__(self.message.format(**params) if params else self.message)


class ValidationFailed(DomainError):
    status = 422
    code = "validation_failed"
    title = "Some fields are invalid"

    @classmethod
    def on(cls, field_name: str, message: str, code: str = "invalid", **params: Any) -> ValidationFailed:
        return cls(errors=[FieldError(field_name, message, code, params)])


class NotAuthenticated(DomainError):
    status = 401
    code = "not_authenticated"
    title = "Authentication required"


class PermissionDenied(DomainError):
    status = 403
    code = "permission_denied"
    title = "You do not have permission to do this"


class NotFound(DomainError):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(DomainError):
    status = 409
    code = "conflict"
    title = "Conflict"


class PreconditionFailed(DomainError):
    status = 412
    code = "precondition_failed"
    title = "The record was changed by someone else"


class PayloadTooLarge(DomainError):
    status = 413
    code = "payload_too_large"
    title = "The request is too large"


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"
    title = "Too many requests"


class ServiceUnavailable(DomainError):
    status = 503
    code = "unavailable"
    title = "Service unavailable"


def as_result(exc: DomainError) -> DomainError:
    """`exc` without its traceback, to keep as one item's result in a set-based write. The
    traceback holds the frame of the loop that caught it, which holds the list of results: a
    reference cycle that keeps the whole batch (records, snapshots, payloads) alive until a full
    garbage collection; over an import, those collections were a third of its CPU time."""
    return exc.with_traceback(None)


class FieldErrors:
    """Collects field errors during validation, then raises them all at once."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def add(self, field_name: str, message: str, code: str = "invalid", **params: Any) -> None:
        self.errors.append(FieldError(field_name, message, code, params))

    def __bool__(self) -> bool:
        return bool(self.errors)

    def raise_if_any(self) -> None:
        if self.errors:
            raise ValidationFailed(errors=self.errors)
