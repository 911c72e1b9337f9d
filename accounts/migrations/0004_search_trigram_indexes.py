# Portfolio search is a substring match (name, external id, domain: Django's icontains, which
# PostgreSQL runs as UPPER(col) LIKE UPPER('%q%')). Trigram GIN indexes on those expressions
# let it answer from the index instead of scanning 100 000 rows. PostgreSQL only: SQLite
# has no pg_trgm and its books are small.

from django.db import migrations

COLUMNS = {
    "account_name_trgm": "name",
    "account_external_id_trgm": "external_id",
    "account_domain_trgm": "domain",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, column in COLUMNS.items():
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS "{name}" ON "accounts_account" '
            f'USING gin (UPPER("{column}"::text) gin_trgm_ops)'
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in COLUMNS:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0003_portfolio_sort_indexes"),
    ]

    operations = [migrations.RunPython(create, drop, elidable=False)]
