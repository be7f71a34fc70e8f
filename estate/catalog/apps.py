from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "estate.catalog"
    label = "catalog"
    verbose_name = "Catalog"
