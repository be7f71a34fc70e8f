from __future__ import annotations


class ApplicationError(Exception):
    """A business rule refused the request; the message is meant for the person who asked."""

    def __init__(
        self,
        message: str,
        *,
        errors: dict[str, list[str]] | None = None,
        status: int = 400,
    ):
        super().__init__(message)
        self.message = message
        self.errors = errors or {}
        self.status = status
