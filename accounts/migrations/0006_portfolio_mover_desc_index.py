# "Moved most" sorted descending: blanks (NULLIF → NULL) still last, ties by name and id
# ascending. PostgreSQL only, like 0003's "DESC NULLS LAST" indexes (SQLite cannot declare
# NULLS LAST in an index, and its books are small enough to sort in memory).

from django.db import migrations

NAME = "account_mover_desc_name_id"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f'CREATE INDEX IF NOT EXISTS "{NAME}" ON "accounts_account" '
        "((NULLIF(\"top_mover\", '')) DESC NULLS LAST, \"name\", \"id\")"
    )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f'DROP INDEX IF EXISTS "{NAME}"')


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_portfolio_mover_index"),
    ]

    operations = [
        migrations.RunPython(create_index, drop_index, elidable=False),
    ]
