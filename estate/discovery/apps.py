from django.apps import AppConfig


class DiscoveryConfig(AppConfig):
    name = "estate.discovery"
    label = "discovery"
    verbose_name = "Discovery"

    def ready(self) -> None:
        from estate.core.panels import Panel, register_panel
        from estate.discovery.findings import register_all
        from estate.discovery.ownership import component_owners, instance_owners
        from estate.discovery.panels import origin_panel
        from estate.inventory.models import Instance
        from estate.inventory.ownership import register_field_owner

        register_all()
        register_field_owner(component_owners)
        register_field_owner(instance_owners, model=Instance)
        register_panel(
            "component_detail",
            Panel(slug="origin", template="discovery/panel_origin.html", context=origin_panel, order=5),
        )
