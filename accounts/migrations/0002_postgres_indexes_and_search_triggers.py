"""What Django's model Meta cannot declare for accounts, per database vendor.

PostgreSQL:

* "DESC NULLS LAST" indexes for the portfolio's descending sorts (blanks last, ties by name
  and id ascending). SQLite cannot declare NULLS LAST in an index, and its books are small
  enough to sort in memory, so it has none of them.
* The accounts table keeps 15% of each page free (fillfactor 85): a recompute that leaves
  the score, band and mover as they were (most accounts, most nights) can then rewrite the
  row in place on its page (a HOT update) without touching any of the table's indexes.
* Django's LIKE-pattern twin of the unique external_id index goes: no query matches a
  prefix, and every recompute that rewrites an account's row updates every index.
* The search document's trigram GIN index (pg_trgm), for the portfolio's substring search.

PostgreSQL and SQLite: triggers keep accounts_accountsearch (name, external id and domain,
one per line) on insert and on an update that changes one of those three columns (a
recompute never does). Triggers, not Python, so bulk inserts, imports and SQL keep it too.
The text lives off the account row because every recompute rewrites that row, and
PostgreSQL adds an entry to every index of the table for each rewritten row: trigram GIN
indexes on the account's own columns cost 20-40 µs of the 90-130 µs per account (measured
on 5 000-account updates of the scoring bench). SQLite's search scans (its books are small).

A later migration that rebuilds accounts_account on SQLite (an AlterField does) drops these
triggers with the old table: it must create them again (tests/accounts/test_search_document.py
fails otherwise).
"""

from django.db import migrations
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce

# accounts_account's PostgreSQL-only indexes: name → key.
PG_ACCOUNT_INDEXES = {
    # The portfolio sorted descending by score, trend or renewal: read the first page from
    # an index instead of sorting the whole book (100 000 rows for an admin).
    "account_score_desc": '"health_score" DESC NULLS LAST',
    "account_trend_desc": '"score_change_30d" DESC NULLS LAST',
    "account_renewal_desc": '"renewal_date" DESC NULLS LAST',
    # "Moved most" and owner descending; NULLIF makes a blank NULL, so it still sorts last.
    # Sorting by owner used to join users and sort the whole book (0.13-0.28 s for 33k-100k
    # accounts); the key now lives on the account (owner_sort_name).
    "account_mover_desc_name_id": "(NULLIF(\"top_mover\", '')) DESC NULLS LAST, \"name\", \"id\"",
    "account_owner_desc_name_id": (
        "(NULLIF(\"owner_sort_name\", '')) DESC NULLS LAST, \"name\", \"id\""
    ),
    # A band filter with the score sorted high to low (e.g. "yellow accounts, best first"):
    # the score index read from the top passes every green account before the first yellow
    # one, because band and score go together; PostgreSQL expects matches to be spread
    # evenly and takes that path (EXPLAIN on the bench data, the portfolio's "all filters"
    # case: 39 958 rows filtered, 213 ms under load). Reading the band's own slice of this
    # index finds them at once (8 ms). The ascending sort has (health_band, health_score).
    "account_band_score_desc": '"health_band", "health_score" DESC NULLS LAST, "name", "id"',
    # A CSM's book sorted by trend or "moved most", descending: the global indexes skip
    # other books' rows when the key goes with the owner (bench data: 12 000-22 000 rows
    # filtered, 47-188 ms; a book with no scores yet would pass every other book). Led by
    # the owner, they read the book's own slice in order (0.3-1 ms). The ascending twins
    # are in Account.Meta.indexes.
    "account_owner_trend_desc_name_id": (
        '"owner_id", "score_change_30d" DESC NULLS LAST, "name", "id"'
    ),
    "account_owner_mover_desc_name_id": (
        "\"owner_id\", (NULLIF(\"top_mover\", '')) DESC NULLS LAST, \"name\", \"id\""
    ),
}

# The LIKE twin of the unique external_id index, whatever Django named it.
PG_DROP_EXTERNAL_ID_LIKE = """
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

# Filling the table from the accounts already there comes last: each copied row queues the
# deferred check of its foreign key, and PostgreSQL refuses CREATE INDEX on a table with
# pending trigger events. It is an upsert: rows may exist already (loaded with the data, or
# left by an earlier unapply of this migration).
PG_SEARCH = [
    """
    CREATE FUNCTION accounts_search_sync() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO accounts_accountsearch (account_id, document)
        VALUES (NEW.id, concat_ws(E'\\n', NEW.name, NEW.external_id, NEW.domain))
        ON CONFLICT (account_id) DO UPDATE SET document = EXCLUDED.document;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER accounts_search_insert AFTER INSERT ON accounts_account
    FOR EACH ROW EXECUTE FUNCTION accounts_search_sync()
    """,
    """
    CREATE TRIGGER accounts_search_update AFTER UPDATE OF name, external_id, domain
    ON accounts_account FOR EACH ROW
    WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.external_id IS DISTINCT FROM NEW.external_id
          OR OLD.domain IS DISTINCT FROM NEW.domain)
    EXECUTE FUNCTION accounts_search_sync()
    """,
    # Django's icontains runs as UPPER(col) LIKE UPPER('%q%'): the index is on that expression.
    """
    CREATE INDEX account_search_trgm ON accounts_accountsearch
    USING gin (UPPER("document"::text) gin_trgm_ops)
    """,
    """
    INSERT INTO accounts_accountsearch (account_id, document)
    SELECT id, concat_ws(E'\\n', name, external_id, domain) FROM accounts_account
    ON CONFLICT (account_id) DO UPDATE SET document = EXCLUDED.document
    """,
]

PG_FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    *(
        f'CREATE INDEX "{name}" ON "accounts_account" ({key})'
        for name, key in PG_ACCOUNT_INDEXES.items()
    ),
    PG_DROP_EXTERNAL_ID_LIKE,
    "ALTER TABLE accounts_account SET (fillfactor = 85)",
    *PG_SEARCH,
]

# pg_trgm stays: an extension belongs to the whole database, not to this app.
PG_BACKWARD = [
    "DROP INDEX account_search_trgm",
    "DROP TRIGGER accounts_search_update ON accounts_account",
    "DROP TRIGGER accounts_search_insert ON accounts_account",
    "DROP FUNCTION accounts_search_sync()",
    "ALTER TABLE accounts_account RESET (fillfactor)",
    "CREATE INDEX accounts_account_external_id_like"
    " ON accounts_account (external_id varchar_pattern_ops)",
    *(f'DROP INDEX "{name}"' for name in PG_ACCOUNT_INDEXES),
]

_SQLITE_DOCUMENT = "NEW.name || char(10) || NEW.external_id || char(10) || NEW.domain"

# SQLite: no conflict clauses in the trigger bodies (the outer statement's conflict policy
# would override them, e.g. an import's upsert): delete-then-insert, and a plain update.
SQLITE_FORWARD = [
    f"""
    CREATE TRIGGER accounts_search_insert AFTER INSERT ON accounts_account BEGIN
        DELETE FROM accounts_accountsearch WHERE account_id = NEW.id;
        INSERT INTO accounts_accountsearch (account_id, document)
        VALUES (NEW.id, {_SQLITE_DOCUMENT});
    END
    """,
    f"""
    CREATE TRIGGER accounts_search_update AFTER UPDATE OF name, external_id, domain
    ON accounts_account
    WHEN OLD.name IS NOT NEW.name OR OLD.external_id IS NOT NEW.external_id
         OR OLD.domain IS NOT NEW.domain
    BEGIN
        UPDATE accounts_accountsearch SET document = {_SQLITE_DOCUMENT}
        WHERE account_id = NEW.id;
    END
    """,
    """
    INSERT OR REPLACE INTO accounts_accountsearch (account_id, document)
    SELECT id, name || char(10) || external_id || char(10) || domain FROM accounts_account
    """,
]

SQLITE_BACKWARD = [
    "DROP TRIGGER accounts_search_update",
    "DROP TRIGGER accounts_search_insert",
]


def _run(schema_editor, by_vendor):
    for sql in by_vendor.get(schema_editor.connection.vendor, []):
        schema_editor.execute(sql, None)  # no parameters: % is literal (the LIKE above)


def forward(apps, schema_editor):
    _run(schema_editor, {"postgresql": PG_FORWARD, "sqlite": SQLITE_FORWARD})


def backward(apps, schema_editor):
    _run(schema_editor, {"postgresql": PG_BACKWARD, "sqlite": SQLITE_BACKWARD})


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(forward, backward),
    ]
