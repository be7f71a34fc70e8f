from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "estate.dashboard"
    label = "dashboard"
