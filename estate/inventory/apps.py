from django.apps import AppConfig


class InventoryConfig(AppConfig):
    name = "estate.inventory"
    label = "inventory"

    def ready(self) -> None:
        from estate.inventory.findings import register_all

        register_all()
