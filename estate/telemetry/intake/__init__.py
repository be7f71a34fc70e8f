"""Intake: telemetry in the dialects agents already speak (OTLP/HTTP, Prometheus remote_write).

Each dialect only translates its messages into the JSON ingest's items; validation, scope,
duplicates and storage are `estate.telemetry.ingest.ingest`'s, the one path for every sender.
"""
