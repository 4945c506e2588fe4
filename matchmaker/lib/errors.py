"""Domain errors raised by services and mapped to HTTP responses by the API layer."""

from __future__ import annotations


class DomainError(Exception):
    """A request the domain refuses. `status_code` is the HTTP status the API layer answers with."""

    status_code = 400

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class FieldValidationError(DomainError):
    """Several problems with one submission, each tied to the field it concerns."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = errors
        super().__init__(
            "; ".join(f"{field}: {message}" if field else message for field, message in errors)
        )


class UnconfirmedWarningsError(FieldValidationError):
    """A submission with warnings (plausible mistakes) that the submitter has not confirmed."""


class PermissionDeniedError(DomainError):
    status_code = 403


class ConflictError(DomainError):
    status_code = 409
