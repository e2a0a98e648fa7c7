"""Domain errors: one type per failure a user can cause, mapped once to a 4xx at each edge."""

from __future__ import annotations


class DomainError(Exception):
    """Base of errors a user can cause; `field` names the input at fault, when there is one."""

    status = 400

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ValidationFailed(DomainError):
    status = 422


class NotFound(DomainError):
    status = 404


class Forbidden(DomainError):
    status = 403


class Conflict(DomainError):
    status = 409


class AuthenticationFailed(DomainError):
    status = 401


class TooManyAttempts(DomainError):
    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
