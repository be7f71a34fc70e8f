from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "estate.audit"
    label = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        from django.contrib import admin

        from estate.audit import receivers  # noqa: F401 - connects the signal receivers
        from estate.audit.links import register_defaults
        from estate.audit.panels import history_panel
        from estate.core.panels import Panel, register_panel

        # The admin's bulk "delete selected" logs in one bulk insert that no receiver sees: rows are
        # deleted one at a time, from their own page, so each deletion is in the trail.
        admin.site.disable_action("delete_selected")
        register_defaults()
        register_panel(
            "component_detail",
            Panel(slug="audit", template="audit/panel_history.html", context=history_panel, order=90),
        )
