from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "estate.audit"
    label = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        from estate.audit import receivers  # noqa: F401 - connects the signal receivers
        from estate.audit.links import register_defaults
        from estate.audit.panels import history_panel
        from estate.core.panels import Panel, register_panel

        register_defaults()
        register_panel(
            "component_detail",
            Panel(slug="audit", template="audit/panel_history.html", context=history_panel, order=90),
        )
