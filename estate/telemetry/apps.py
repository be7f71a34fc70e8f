from django.apps import AppConfig


class TelemetryConfig(AppConfig):
    name = "estate.telemetry"
    label = "telemetry"

    def ready(self) -> None:
        from estate.core.panels import Panel, register_panel
        from estate.telemetry.findings import register_all
        from estate.telemetry.selectors import health_panel_context

        register_all()
        register_panel(
            "component_detail",
            Panel(slug="health", template="telemetry/health_panel.html", context=health_panel_context, order=10),
        )
