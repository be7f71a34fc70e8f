from django.contrib import admin

from estate.patching.models import ChangeFreeze, FeedToken, Occurrence, PatchWindow


@admin.register(PatchWindow)
class PatchWindowAdmin(admin.ModelAdmin):
    """Read and tidy; plan windows in the app, where the conflict rules run."""

    list_display = ["title", "start", "duration", "time_zone", "rrule", "change_kind", "paused"]
    list_filter = ["change_kind", "paused"]
    search_fields = ["title"]
    readonly_fields = ["start", "duration", "time_zone", "rrule", "series_end", "components"]


@admin.register(Occurrence)
class OccurrenceAdmin(admin.ModelAdmin):
    list_display = ["window", "start", "end", "status", "ran_by", "overdue_at"]
    list_filter = ["status"]
    readonly_fields = ["window", "original_start", "start", "end", "silence_ids"]


@admin.register(ChangeFreeze)
class ChangeFreezeAdmin(admin.ModelAdmin):
    list_display = ["name", "scope", "environment", "system", "start", "end"]
    list_filter = ["scope"]


@admin.register(FeedToken)
class FeedTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "created_at", "api_token"]
    readonly_fields = ["api_token", "user", "filters"]
