from django.apps import AppConfig


class OperationsConfig(AppConfig):
    name = "estate.operations"
    label = "operations"
