from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import post_migrate


def _load_end_of_life_table(sender, **kwargs) -> None:
    """The shipped end-of-life table is there from the first migrate; `manage.py eol load` refreshes it."""
    from estate.patching.deadlines import eol_load_shipped
    from estate.patching.models import EngineEndOfLife

    using = kwargs.get("using", "default")
    if EngineEndOfLife._meta.db_table not in connections[using].introspection.table_names():
        return  # migrated back to before the table
    if not EngineEndOfLife.objects.using(using).exists():
        eol_load_shipped()


class PatchingConfig(AppConfig):
    name = "estate.patching"
    label = "patching"

    def ready(self) -> None:
        from estate.core.panels import Panel, register_panel
        from estate.core.services import register_delete_guard
        from estate.outbox.registry import register
        from estate.patching import alerting
        from estate.patching.findings import register_all
        from estate.patching.panels import component_panel, deadlines_panel
        from estate.patching.services import refuse_planned_component_delete

        register(alerting.SILENCE, alerting.send_silence)
        register(alerting.EXPIRE, alerting.send_expire)
        register(alerting.REMINDER_WEBHOOK, alerting.send_reminder_webhook)
        register(alerting.REMINDER_MAIL, alerting.send_reminder_mail)
        register_all()
        post_migrate.connect(_load_end_of_life_table, sender=self)
        register_delete_guard(refuse_planned_component_delete)
        register_panel(
            "component_detail",
            Panel(slug="patching", template="patching/panel_component.html", context=component_panel, order=20),
        )
        register_panel(
            "component_detail",
            Panel(slug="deadlines", template="patching/panel_deadlines.html", context=deadlines_panel, order=19),
        )
