from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "estate.core"
    label = "core"
