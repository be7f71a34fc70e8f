from django.apps import AppConfig


class RunbooksConfig(AppConfig):
    name = "estate.runbooks"
    label = "runbooks"

    def ready(self) -> None:
        from estate.core.panels import Panel, register_annotator, register_panel
        from estate.operations.choices import OperationKind
        from estate.operations.kinds import register_runner
        from estate.outbox import registry
        from estate.runbooks import engine, findings
        from estate.runbooks.executors import webhook
        from estate.runbooks.selectors import calendar_progress, occurrence_panel

        findings.register_all()
        registry.register(webhook.REQUEST, webhook.send_request)
        register_annotator("calendar_occurrences", calendar_progress)
        register_runner(OperationKind.RUN_RUNBOOK, engine.advance)
        register_panel("occurrence_detail", Panel(slug="runbook", template="runbooks/occurrence_panel.html",
                                                  context=occurrence_panel, order=10))  # fmt: skip
