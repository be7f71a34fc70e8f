"""HMAC-SHA256 signatures for the webhook provider: the same scheme both ways."""

from __future__ import annotations

import hashlib
import hmac
import os

HEADER = "X-Estate-Signature"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str) -> bool:
    return bool(secret) and hmac.compare_digest(sign(secret, body), signature or "")


def secret_from_env(config) -> str:
    """The secret named by the provider config; never stored in the database nor shown back."""
    name = getattr(config, "secret_env", "") if config else ""
    # The model only accepts ESTATE_* names; checked again here for rows written around it.
    return os.environ.get(name, "") if name.startswith("ESTATE_") else ""
