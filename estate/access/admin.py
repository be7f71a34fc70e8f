from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied

from estate.access import services
from estate.access.models import AccessScope, ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are created by their owners (the secret is shown once); admins see and revoke them."""

    list_display = ["name", "user", "scope", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at"]
    list_filter = ["scope"]
    search_fields = ["name", "user__username", "prefix"]
    readonly_fields = [f.name for f in ApiToken._meta.fields]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # revoked, not deleted: the audit trail keeps naming it

    @admin.action(description="Revoke the selected tokens", permissions=["change"])
    def revoke(self, request, queryset):
        for token in queryset.select_related("user"):
            try:
                services.token_revoke(token=token, actor=request.user)
            except PermissionDenied as exc:
                self.message_user(request, f"{token}: {exc}", messages.ERROR)


class AccessScopeInline(admin.StackedInline):
    model = AccessScope
    can_delete = True
    verbose_name_plural = (
        "Limit this person's role to these teams and systems (no limit: the whole estate; a limit with none: nothing)"
    )

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        # The link models only add PROTECT against deleting a team or system in use: the
        # relation is still edited as a plain many-to-many (Django's admin skips custom ones).
        kwargs.setdefault("widget", FilteredSelectMultiple(db_field.verbose_name, False))
        return db_field.formfield(**kwargs)


User = get_user_model()
admin.site.unregister(User)
admin.site.unregister(Group)


class RecordsAccessChanges:
    """Writes ROLE_CHANGED (before/after) when a save changes whose access the object decides.

    The before is read in save_model, while the database still holds the old groups and scope;
    the after in save_related, once the form's many-to-manys and inlines are saved.
    """

    def save_model(self, request, obj, form, change):
        request._estate_access_before = services.access_snapshot_of(obj) if change else None
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        services.access_change_record(
            form.instance, getattr(request, "_estate_access_before", None), message="In the admin site."
        )


@admin.register(User)
class EstateUserAdmin(RecordsAccessChanges, UserAdmin):
    inlines = [*UserAdmin.inlines, AccessScopeInline]


@admin.register(Group)
class EstateGroupAdmin(RecordsAccessChanges, GroupAdmin):
    """A group's permissions are a role's: changing them changes the access of everyone in it."""
