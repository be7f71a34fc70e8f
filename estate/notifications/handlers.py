"""Sending a notification: the outbox calls these with the message's payload, and retries on failure."""

from __future__ import annotations

import json

from django.core.mail import send_mail

from estate.core import outbound
from estate.core.secrets import secret_value
from estate.core.signing import HEADER, sign
from estate.outbox.registry import PermanentFailure

WEBHOOK, EMAIL = "notify.webhook", "notify.email"
TIMEOUT = 10
# A receiver that answers one of these will answer the same way again.
PERMANENT_STATUSES = frozenset({400, 401, 403, 404, 405, 410, 413, 422})


def send_webhook(payload: dict) -> dict:
    """POST the Slack-compatible body; signed when the route names a secret its team may use."""
    body = json.dumps(payload["body"], sort_keys=True).encode()
    headers = {"Content-Type": "application/json"}
    secret = secret_value(payload.get("secret_env", ""), set(payload.get("scopes", [])))
    if secret:
        headers[HEADER] = sign(secret, body)
    try:
        response = outbound.request("POST", payload["url"], data=body, headers=headers, timeout=TIMEOUT)
    except outbound.OutboundRefused as exc:
        raise PermanentFailure(f"{payload['url']}: {exc}") from exc
    if response.is_redirect:  # never followed (it could lead anywhere): the route's URL is wrong
        raise PermanentFailure(f"The receiver redirects to {response.headers.get('Location', '?')}; fix the URL.")
    if response.status_code in PERMANENT_STATUSES:
        raise PermanentFailure(f"The receiver answered {response.status_code}: {response.text[:300]}")
    response.raise_for_status()
    return {"status": response.status_code}


def send_email(payload: dict) -> dict:
    sent = send_mail(payload["subject"], payload["text"], None, payload["to"])
    return {"sent": sent}
