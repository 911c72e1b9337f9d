"""Leaner, faster indexes for the two biggest tables (every recompute writes them).

* Score history: one unique index on (account, computed_at DESC) instead of a unique
  (account, computed_at) plus an (account, -computed_at) index plus the foreign key's own.
* Metric values: the unique constraint starts with the account, so the foreign key's own
  index goes. On PostgreSQL the constraint also carries the value (INCLUDE): the recompute's
  window aggregates become index-only scans already in (account, metric) order, measured
  2.7x faster than index scan + heap + sort for 5 000 accounts x 8 metrics x 30 days.
  (SQLite has no INCLUDE; there the plain constraint stays.)
"""

import django.db.models.deletion
from django.db import migrations, models

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
        ('accounts', '0006_portfolio_mover_desc_index'),
        ('scoring', '0002_churnmodel_backfilljob'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='score',
            name='score_unique_per_moment',
        ),
        migrations.RemoveIndex(
            model_name='score',
            name='scoring_sco_account_e1a2be_idx',
        ),
        migrations.AlterField(
            model_name='metricvalue',
            name='account',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='metric_values', to='accounts.account'),
        ),
        migrations.AlterField(
            model_name='score',
            name='account',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='scores', to='accounts.account'),
        ),
        migrations.AddConstraint(
            model_name='score',
            constraint=models.UniqueConstraint(models.F('account'), models.OrderBy(models.F('computed_at'), descending=True), name='score_unique_per_moment'),
        ),
        migrations.RunPython(_on_postgresql(COVERING), _on_postgresql(PLAIN)),
    ]
