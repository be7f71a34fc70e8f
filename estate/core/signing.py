"""HMAC-SHA256 signatures of the bodies Estate sends and receives: one scheme everywhere."""

from __future__ import annotations

import hashlib
import hmac

HEADER = "X-Estate-Signature"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str) -> bool:
    return bool(secret) and hmac.compare_digest(sign(secret, body), signature or "")
