from django.apps import AppConfig


class PatchingConfig(AppConfig):
    name = "estate.patching"
    label = "patching"
