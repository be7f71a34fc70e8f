from django.apps import AppConfig


class OutboxConfig(AppConfig):
    name = "estate.outbox"
    label = "outbox"
    verbose_name = "Outbox"
