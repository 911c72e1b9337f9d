"""The bi app, on top of every other: read-only SQL views for BI tools (Tableau, Looker
Studio, Metabase) in the PostgreSQL schema ``chs_bi``, and the read-only database role that
reads them (``python manage.py create_bi_role``).

It holds no models and nothing imports it. ``schema.py`` documents every view's columns
(the README's table is checked against it); ``sql/v<N>.sql`` creates schema version N and
``migrations/`` applies each version once, on PostgreSQL only (on SQLite the migrations do
nothing). The views' column names are a contract with the BI tools: they never change
within a version. Changing them, or a base table a view reads, takes a new version: a new
``sql/v<N+1>.sql`` (dropping and recreating the views) applied by a new migration, and
``schema.py`` updated to match; earlier SQL files and migrations are never edited."""
