"""Cheaper account writes: every recompute rewrites each account's health columns.

* Indexes nobody reads go: the LIKE-pattern twins Django adds for db_index/unique CharFields
  on PostgreSQL (segment, external_id: no query matches a prefix), and the activities'
  account index ((account, -occurred_at) serves it). (The owner's own index stays: a
  manager's book count reads it faster than the wider (owner, name) index.)
* PostgreSQL only: the accounts table keeps 15% of each page free (fillfactor 85). A recompute
  that leaves the score, band and mover as they were (most accounts, most nights) can then
  rewrite the row in place on its page (a HOT update) without touching any of the table's
  indexes. Existing pages get the room as they are rewritten.
"""

import django.db.models.deletion
from django.db import migrations, models


def _pg(forward, backward):
    def run(sql):
        def go(apps, schema_editor):
            if schema_editor.connection.vendor == "postgresql":
                schema_editor.execute(sql, None)  # no parameters: % is literal

        return go

    return migrations.RunPython(run(forward), run(backward))


# The LIKE twin of the unique external_id index, whatever Django named it.
DROP_EXTERNAL_ID_LIKE = """
DO $$
DECLARE twin text;
BEGIN
    FOR twin IN SELECT indexname FROM pg_indexes
        WHERE tablename = 'accounts_account' AND indexdef LIKE '%(external_id varchar_pattern_ops)%'
    LOOP
        EXECUTE format('DROP INDEX %I', twin);
    END LOOP;
END $$
"""
ADD_EXTERNAL_ID_LIKE = (
    "CREATE INDEX IF NOT EXISTS accounts_account_external_id_like"
    " ON accounts_account (external_id varchar_pattern_ops)"
)


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0006_portfolio_mover_desc_index'),
    ]

    operations = [
        migrations.AlterField(
            model_name='account',
            name='segment',
            field=models.CharField(blank=True, max_length=50),
        ),
        migrations.AlterField(
            model_name='activity',
            name='account',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='activities', to='accounts.account'),
        ),
        migrations.AddIndex(
            model_name='account',
            index=models.Index(fields=['segment'], name='account_segment'),
        ),
        _pg(DROP_EXTERNAL_ID_LIKE, ADD_EXTERNAL_ID_LIKE),
        _pg(
            "ALTER TABLE accounts_account SET (fillfactor = 85)",
            "ALTER TABLE accounts_account RESET (fillfactor)",
        ),
    ]
