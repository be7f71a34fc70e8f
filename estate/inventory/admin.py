from django.contrib import admin

from estate.core.admin import GuardedDeleteAdmin
from estate.inventory.models import (
    Cluster,
    Component,
    Environment,
    Image,
    Instance,
    System,
    Tag,
    Team,
)


@admin.register(Team, Environment, Tag)
class NamedAdmin(admin.ModelAdmin):
    list_display = ["name", "slug"]
    search_fields = ["name"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(System)
class SystemAdmin(NamedAdmin):
    list_display = ["name", "slug", "owner"]
    list_select_related = ["owner"]


@admin.register(Cluster)
class ClusterAdmin(NamedAdmin):
    list_display = ["name", "engine", "environment", "system"]
    list_select_related = ["environment", "system"]


@admin.register(Component)
class ComponentAdmin(GuardedDeleteAdmin):
    list_display = ["name", "environment", "system", "category", "mode", "holds_state"]
    list_filter = ["mode", "category", "environment", "system"]
    list_select_related = ["environment", "system"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}
    autocomplete_fields = ["depends_on", "tags", "system", "team", "cluster"]
    raw_id_fields = ["current_image"]


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ["component", "version", "reference", "built_at"]
    list_select_related = ["component"]
    search_fields = ["version", "reference", "component__name"]
    raw_id_fields = ["component"]


@admin.register(Instance)
class InstanceAdmin(GuardedDeleteAdmin):
    list_display = [
        "external_id",
        "component",
        "state",
        "image",
        "launched_at",
        "tainted",
    ]
    list_filter = ["state", "tainted"]
    list_select_related = ["component", "image"]
    search_fields = ["external_id", "component__name"]
    raw_id_fields = ["component", "image"]
