from django.apps import AppConfig


class DiscoveryConfig(AppConfig):
    name = "estate.discovery"
    label = "discovery"
    verbose_name = "Discovery"

    def ready(self) -> None:
        from estate.discovery.findings import register_all

        register_all()
