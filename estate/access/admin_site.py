from django.contrib.admin import AdminSite
from django.contrib.admin.apps import AdminConfig

from estate.access import scope


class EstateAdminSite(AdminSite):
    """Django's admin site, for people whose role covers the whole estate.

    The admin writes models directly, past the services' scope check: a person limited to some
    teams or systems would have no limit there (not even on their own scope), so they get none of it.
    """

    site_header = "Estate administration"

    def has_permission(self, request):
        return super().has_permission(request) and scope.scope_of(request.user) is None


class EstateAdminConfig(AdminConfig):
    """Installed in place of django.contrib.admin, so admin.site is the site above."""

    default_site = "estate.access.admin_site.EstateAdminSite"
