"""What the audit trail listens to: writes announced by core, and Django's log-in signals."""

from __future__ import annotations

from django.contrib.admin.models import ADDITION, DELETION, LogEntry
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.contrib.contenttypes.models import ContentType
from django.db.models.signals import post_save
from django.dispatch import receiver

from estate.audit.choices import PAIRED_ACTIONS, AuditAction
from estate.audit.context import actor_of, current_actor
from estate.audit.services import audit_record, diff
from estate.core.signals import estate_written

MODELS_NOT_AUDITED = {"audit.auditevent"}


@receiver(estate_written, dispatch_uid="audit_estate_written")
def record_write(sender, instance, action, before, after, message="", **kwargs) -> None:
    if instance._meta.label_lower in MODELS_NOT_AUDITED:
        return
    changes = diff(before, after) if action in PAIRED_ACTIONS else after or before
    audit_record(action=action, obj=instance, changes=changes, message=message)


@receiver(user_logged_in, dispatch_uid="audit_user_logged_in")
def record_login(sender, request, user, **kwargs) -> None:
    actor = actor_of(request, user) if request is not None else current_actor()
    audit_record(action=AuditAction.LOGIN, obj=user, object_repr=user.get_username(), actor=actor)


@receiver(user_logged_out, dispatch_uid="audit_user_logged_out")
def record_logout(sender, request, user, **kwargs) -> None:
    if user is None:  # logging out with no session: nothing happened
        return
    actor = actor_of(request, user) if request is not None else current_actor()
    audit_record(action=AuditAction.LOGOUT, obj=user, object_repr=user.get_username(), actor=actor)


@receiver(user_login_failed, dispatch_uid="audit_user_login_failed")
def record_login_failed(sender, credentials, request=None, **kwargs) -> None:
    # Django has already masked the password in `credentials`; only the username is kept.
    username = str(credentials.get("username", ""))[:150]
    actor = actor_of(request) if request is not None else current_actor()
    audit_record(
        action=AuditAction.LOGIN_FAILED,
        object_type="auth.user",
        object_repr=username,
        message=f"Failed log-in as “{username}”.",
        actor=actor,
    )


ADMIN_ACTIONS = {ADDITION: AuditAction.CREATE, DELETION: AuditAction.DELETE}


@receiver(post_save, sender=LogEntry, dispatch_uid="audit_admin_log_entry")
def record_admin_action(sender, instance: LogEntry, created: bool, **kwargs) -> None:
    """The admin site writes models directly (no validated_save): its own log says what it did.

    (Its "delete selected" action logs with one bulk INSERT that sends no signal: AuditConfig
    turns that action off, so rows are deleted one by one and each deletion lands here.)
    """
    if not created or not instance.content_type_id:
        return
    model = ContentType.objects.get_for_id(instance.content_type_id)
    object_type = f"{model.app_label}.{model.model}"
    if object_type in MODELS_NOT_AUDITED:
        return
    audit_record(
        action=ADMIN_ACTIONS.get(instance.action_flag, AuditAction.CHANGE),
        object_type=object_type,
        object_id=instance.object_id or "",
        object_repr=instance.object_repr,
        message=f"In the admin site: {instance.get_change_message() or 'no fields changed'}.",
    )
