from django.apps import AppConfig


class OperationsConfig(AppConfig):
    name = "estate.operations"
    label = "operations"

    def ready(self) -> None:
        from estate.core.panels import Panel, register_panel
        from estate.operations.findings import register_all
        from estate.operations.selectors import component_panel

        register_all()
        register_panel(
            "component_detail",
            Panel(slug="operations", template="operations/component_panel.html", context=component_panel, order=20),
        )
