# The (owner, name) index already serves every lookup by owner. The owner's own index only
# cost the nightly recompute: a recompute that changes an account's health rewrites the row,
# and every index of the row gets a new entry (27 before this migration, 26 after).
#
# The index is dropped by name rather than through AlterField: on SQLite, AlterField
# rebuilds the table, and that would drop the search-document triggers (migration 0012).

from django.db import migrations, models
import django.db.models.deletion
from django.conf import settings

INDEX = "accounts_account_owner_id_7b1fcbd0"


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0012_search_document"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="account",
                    name="owner",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="owned_accounts",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f"DROP INDEX IF EXISTS {INDEX}",
                    reverse_sql=f"CREATE INDEX {INDEX} ON accounts_account (owner_id)",
                ),
            ],
        ),
    ]
