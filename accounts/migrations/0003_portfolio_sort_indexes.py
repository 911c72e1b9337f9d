# Indexes for the portfolio's sorts (see Account.Meta.indexes). The three "DESC NULLS LAST"
# indexes exist only on PostgreSQL: SQLite (the embedded default) cannot declare NULLS LAST
# in an index, and its books are small enough to sort in memory.

from django.db import migrations, models

DESC_NULLS_LAST = {
    "account_score_desc": "health_score",
    "account_trend_desc": "score_change_30d",
    "account_renewal_desc": "renewal_date",
}


def create_desc_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, column in DESC_NULLS_LAST.items():
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS "{name}" ON "accounts_account" ("{column}" DESC NULLS LAST)'
        )


def drop_desc_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in DESC_NULLS_LAST:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0002_api_tokens_and_imports'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='account',
            index=models.Index(fields=['name', 'id'], name='account_name_id'),
        ),
        migrations.AddIndex(
            model_name='account',
            index=models.Index(models.Case(models.When(health_band='red', then=models.Value(0)), models.When(health_band='yellow', then=models.Value(1)), models.When(health_band='green', then=models.Value(2)), default=models.Value(3), output_field=models.IntegerField()), models.F('health_score'), models.F('id'), name='account_band_rank'),
        ),
        migrations.RunPython(create_desc_indexes, drop_desc_indexes, elidable=False),
    ]
