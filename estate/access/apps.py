from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "estate.access"
    label = "access"
    verbose_name = "Access"
