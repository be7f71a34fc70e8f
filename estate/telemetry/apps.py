from django.apps import AppConfig


class TelemetryConfig(AppConfig):
    name = "estate.telemetry"
    label = "telemetry"
