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


def in_use_message(exc) -> str:
    """What a ProtectedError or RestrictedError means to a person: which kinds of records still use it."""
    users = getattr(exc, "protected_objects", None) or getattr(exc, "restricted_objects", None) or ()
    kinds = sorted({str(obj._meta.verbose_name_plural) for obj in users})
    if not kinds:
        return "Other records still use this one; remove or reassign them first."
    return f"Still used by {', '.join(kinds)}; remove or reassign them first."
