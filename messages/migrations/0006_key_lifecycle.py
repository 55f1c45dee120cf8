"""Key lifecycle: each revision and head records the chat-key version its envelope names, chat
keys record when their state changed, and maintenance commands get a lease and checkpoints."""

from django.db import migrations, models


def key_versions_from_envelopes(apps, schema_editor):
    """Reads the version from each envelope's header (format byte, then 4 bytes big-endian)."""
    for name in ("Message", "MessageRevision"):
        model = apps.get_model("archive", name)
        batch = []
        for row in model.objects.only("pk", "envelope").iterator(chunk_size=2000):
            row.key_version = int.from_bytes(bytes(row.envelope)[1:5], "big")
            batch.append(row)
            if len(batch) == 2000:
                model.objects.bulk_update(batch, ["key_version"])
                batch = []
        model.objects.bulk_update(batch, ["key_version"])


class Migration(migrations.Migration):
    dependencies = [
        ("archive", "0005_sort_key_plain_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="key_version",
            field=models.PositiveIntegerField(default=0),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="messagerevision",
            name="key_version",
            field=models.PositiveIntegerField(default=0),
            preserve_default=False,
        ),
        migrations.RunPython(key_versions_from_envelopes, migrations.RunPython.noop),
        migrations.AddField(
            model_name="chatkey",
            name="changed_at",
            field=models.DateTimeField(null=True),
        ),
        migrations.AlterField(
            model_name="auditentry",
            name="channel",
            field=models.CharField(
                choices=[("admin", "Admin"), ("api", "API"), ("command", "manage.py command")],
                max_length=8,
            ),
        ),
        migrations.CreateModel(
            name="MaintenanceLock",
            fields=[
                ("name", models.CharField(max_length=64, primary_key=True, serialize=False)),
                ("command", models.CharField(max_length=64)),
                ("host", models.CharField(max_length=255)),
                ("pid", models.PositiveIntegerField()),
                ("token", models.CharField(max_length=32)),
                ("acquired_at", models.DateTimeField()),
                ("expires_at", models.DateTimeField()),
            ],
        ),
        migrations.CreateModel(
            name="MaintenanceCheckpoint",
            fields=[
                ("name", models.CharField(max_length=128, primary_key=True, serialize=False)),
                ("state", models.JSONField(default=dict)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
        ),
    ]
