from django.apps import AppConfig


class OperationsConfig(AppConfig):
    name = "estate.operations"
    label = "operations"

    def ready(self) -> None:
        from estate.core.panels import Panel, register_panel
        from estate.core.services import register_delete_guard
        from estate.operations.findings import register_all
        from estate.operations.providers import webhook
        from estate.operations.selectors import component_panel
        from estate.operations.services import refuse_delete_with_active_operation
        from estate.outbox import registry

        register_all()
        registry.register(webhook.REQUEST, webhook.send_request)
        register_delete_guard(refuse_delete_with_active_operation)
        register_panel(
            "component_detail",
            Panel(slug="operations", template="operations/component_panel.html", context=component_panel, order=20),
        )
