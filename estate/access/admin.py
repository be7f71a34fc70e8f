from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

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
        for token in queryset:
            services.token_revoke(token=token)


class AccessScopeInline(admin.StackedInline):
    model = AccessScope
    can_delete = True
    filter_horizontal = ["teams", "systems"]
    verbose_name_plural = "Limit this person's role to these teams and systems (none: the whole estate)"


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class EstateUserAdmin(UserAdmin):
    inlines = [*UserAdmin.inlines, AccessScopeInline]
