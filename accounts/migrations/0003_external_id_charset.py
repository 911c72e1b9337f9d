"""external_id holds only letters, digits and ``. _ - : @ +`` (1-100 characters, starting
with a letter or digit): ``accounts.models.EXTERNAL_ID_PATTERN``, here also as a database
rule, so a bulk insert, an import or plain SQL cannot store an id that breaks URLs.

PostgreSQL: a CHECK constraint with the same regular expression. SQLite cannot add a
constraint to an existing table without rebuilding it (which would drop migration 0002's
search triggers) and has no regular expressions without a custom function, so two triggers
refuse the row with GLOB: no character outside the set, the first one a letter or digit.

Rows that already break the rule stop the migration with their ids: rename them in the CRM
and here (the admin or SQL) first; CHS cannot guess what they should be called."""

from django.db import migrations, models

import accounts.models

PG_CHECK = (
    "ALTER TABLE accounts_account ADD CONSTRAINT account_external_id_charset "
    "CHECK (external_id ~ '^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,99}$')"
)
PG_DROP = "ALTER TABLE accounts_account DROP CONSTRAINT IF EXISTS account_external_id_charset"

# GLOB '[^...]' is "any character but these"; a '-' last in the set is itself.
SQLITE_BAD = (
    "length({0}.external_id) NOT BETWEEN 1 AND 100 "
    "OR {0}.external_id NOT GLOB '[A-Za-z0-9]*' "
    "OR {0}.external_id GLOB '*[^A-Za-z0-9._:@+-]*'"
)
SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER account_external_id_charset_insert BEFORE INSERT ON accounts_account
    WHEN {SQLITE_BAD.format("NEW")}
    BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: account_external_id_charset'); END""",
    f"""CREATE TRIGGER account_external_id_charset_update
    BEFORE UPDATE OF external_id ON accounts_account
    WHEN {SQLITE_BAD.format("NEW")}
    BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: account_external_id_charset'); END""",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS account_external_id_charset_insert",
    "DROP TRIGGER IF EXISTS account_external_id_charset_update",
]


def forward(apps, schema_editor):
    Account = apps.get_model("accounts", "Account")
    bad = [
        ext
        for ext in Account.objects.values_list("external_id", flat=True).iterator()
        if not accounts.models.is_valid_external_id(ext)
    ]
    if bad:
        shown = ", ".join(repr(b) for b in bad[:20])
        raise RuntimeError(
            f"{len(bad)} accounts have an external_id outside the allowed characters "
            f"({accounts.models.EXTERNAL_ID_RULE}): {shown}. Rename them, then migrate again."
        )
    vendor = schema_editor.connection.vendor
    statements = {"postgresql": [PG_CHECK], "sqlite": SQLITE_TRIGGERS}.get(vendor, [])
    for sql in statements:
        schema_editor.execute(sql)


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for sql in {"postgresql": [PG_DROP], "sqlite": SQLITE_DROP}.get(vendor, []):
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_postgres_indexes_and_search_triggers"),
    ]

    operations = [
        migrations.AlterField(
            model_name="account",
            name="external_id",
            field=models.CharField(
                help_text=(
                    "The account's id in the customer's CRM: 1 to 100 characters: letters A-Z "
                    "and a-z, digits and . _ - : @ +, starting with a letter or digit."
                ),
                max_length=100,
                unique=True,
                validators=[accounts.models.ExternalIdValidator()],
            ),
        ),
        migrations.RunPython(forward, backward),
    ]
