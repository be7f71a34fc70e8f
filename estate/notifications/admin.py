from django.contrib import admin

from estate.notifications.models import NotificationRoute


@admin.register(NotificationRoute)
class NotificationRouteAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "channel", "enabled"]
    list_filter = ["channel", "enabled", "team"]
