from __future__ import annotations

from django.urls import path

from estate.telemetry.intake import views

# OTLP/HTTP's own paths (an exporter given only the server's address appends these), and
# remote_write beside the JSON ingest endpoint.
urlpatterns = [
    path("v1/metrics", views.OtlpMetricsView.as_view(), name="otlp_metrics"),
    path("v1/logs", views.OtlpLogsView.as_view(), name="otlp_logs"),
    path("api/v1/telemetry/prometheus/write", views.PrometheusWriteView.as_view(), name="prometheus_write"),
]
