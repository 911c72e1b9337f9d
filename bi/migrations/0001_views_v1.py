from django.db import migrations

from bi.versions import apply_version, drop_schema


class Migration(migrations.Migration):
    initial = True

    # Every table the views read, as of schema version 1.
    dependencies = [
        ("accounts", "0009_survey_audit_types"),
        ("scoring", "0004_score_event_consumers"),
        ("playbooks", "0005_playbookaction_send_survey"),
        ("surveys", "0001_initial"),
    ]

    operations = [migrations.RunPython(apply_version(1), drop_schema)]
