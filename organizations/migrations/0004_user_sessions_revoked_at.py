from django.db import migrations, models


class Migration(migrations.Migration):
    """Revoke all sessions of a user ends every gateway sign-in, SAML or OIDC: the sign-ins older than
    this moment no longer count (a nullable column: no table rewrite on PostgreSQL)."""

    dependencies = [
        ("organizations", "0003_webhook_secret_rotation_and_delivery_log"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="sessions_revoked_at",
            field=models.DateTimeField(
                blank=True, editable=False, null=True,
                help_text="Gateway sign-ins made before this moment are ended (revoke all sessions, deactivation).",
            ),
        ),
    ]
