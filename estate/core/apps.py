from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "estate.core"
    label = "core"

    def ready(self):
        from estate.core import db  # noqa: F401  (registers the any_of lookup)
