from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "estate.notifications"
    label = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from estate.notifications import handlers
        from estate.outbox import registry

        registry.register(handlers.WEBHOOK, handlers.send_webhook)
        registry.register(handlers.EMAIL, handlers.send_email)
