from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccessConfig(AppConfig):
    name = "estate.access"
    label = "access"
    verbose_name = "Access"

    def ready(self):
        from estate.access import roles, scope
        from estate.core.services import register_delete_guard, register_write_guard

        register_write_guard(scope.check_write)
        register_delete_guard(scope.check_delete)
        # Sent after every app's permissions exist (this app is installed last).
        post_migrate.connect(roles.sync_roles, sender=self, dispatch_uid="estate-access-sync-roles")
