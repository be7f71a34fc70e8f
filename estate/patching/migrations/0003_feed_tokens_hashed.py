"""Feed secrets move to hashed calendar-feed API tokens; the addresses already handed out keep working."""

import hashlib
from datetime import timedelta

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.utils import timezone


def move_secrets(apps, schema_editor):
    FeedToken = apps.get_model("patching", "FeedToken")
    ApiToken = apps.get_model("access", "ApiToken")
    expires = timezone.now() + timedelta(days=settings.API_TOKEN_MAX_DAYS)
    for feed in FeedToken.objects.all():
        feed.api_token = ApiToken.objects.create(
            user_id=feed.user_id,
            name=f"Calendar feed {feed.pk}: {feed.name}"[:100],
            scope="feed",
            prefix=feed.key[:8],
            key_hash=hashlib.sha256(feed.key.encode()).hexdigest(),
            created_at=feed.created_at,
            expires_at=expires,
            last_used_at=feed.last_used_at,
            revoked_at=feed.revoked_at,
        )
        feed.save(update_fields=["api_token"])


class Migration(migrations.Migration):
    dependencies = [
        ("access", "0001_initial"),
        ("patching", "0002_slot_exclusion_postgres"),
    ]

    operations = [
        migrations.AddField(
            model_name="feedtoken",
            name="api_token",
            field=models.OneToOneField(
                null=True, on_delete=django.db.models.deletion.CASCADE, related_name="feed", to="access.apitoken"
            ),
        ),
        migrations.RunPython(move_secrets, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="feedtoken",
            name="api_token",
            field=models.OneToOneField(
                on_delete=django.db.models.deletion.CASCADE, related_name="feed", to="access.apitoken"
            ),
        ),
        migrations.RemoveField(model_name="feedtoken", name="key"),
        migrations.RemoveField(model_name="feedtoken", name="revoked_at"),
        migrations.RemoveField(model_name="feedtoken", name="last_used_at"),
    ]
