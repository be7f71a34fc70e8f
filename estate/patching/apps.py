from django.apps import AppConfig


class PatchingConfig(AppConfig):
    name = "estate.patching"
    label = "patching"

    def ready(self) -> None:
        from estate.core.panels import Panel, register_panel
        from estate.core.services import register_delete_guard
        from estate.outbox.registry import register
        from estate.patching import alerting
        from estate.patching.findings import register_all
        from estate.patching.panels import component_panel
        from estate.patching.services import refuse_planned_component_delete

        register(alerting.SILENCE, alerting.send_silence)
        register(alerting.EXPIRE, alerting.send_expire)
        register(alerting.REMINDER_WEBHOOK, alerting.send_reminder_webhook)
        register(alerting.REMINDER_MAIL, alerting.send_reminder_mail)
        register_all()
        register_delete_guard(refuse_planned_component_delete)
        register_panel(
            "component_detail",
            Panel(slug="patching", template="patching/panel_component.html", context=component_panel, order=20),
        )
