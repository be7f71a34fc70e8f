"""What every app's admin pages share."""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpResponseRedirect

from estate.core.errors import ApplicationError
from estate.core.services import validated_delete


class GuardedDeleteAdmin(admin.ModelAdmin):
    """Deletes through validated_delete, so the admin site refuses what the pages and the API refuse
    (an operation in progress, a patch window that still names the object) and the audit records it."""

    def log_deletions(self, request, queryset):
        pass  # validated_delete records the delete (with the guards' refusal rolled back with it)

    def delete_model(self, request, obj):
        validated_delete(obj)

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except ApplicationError as exc:
            self.message_user(request, exc.message, level=messages.ERROR)
            return HttpResponseRedirect(request.path.removesuffix("delete/"))
