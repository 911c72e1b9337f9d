"""The CSV import framework: upload, column mapping, preview, and a two-pass run.

Two passes over the stored file with ``csv`` streaming, so a file of 200 000 rows never
sits in memory:

1. **validate** every row (progress saved on the job as it goes); every bad row's line,
   column and reason is collected (the first ``MAX_SHOWN_ERRORS`` on the job, all of them in
   a downloadable CSV). Any bad row → the job fails and *nothing* is written.
2. **write** in one transaction, in chunks, through the importer of the file's kind.
   Progress of this pass goes to the cache, because the job row's updates inside the
   transaction are invisible to the page until it commits.

Modules: ``registry`` (the kinds of file and their importers: apps register theirs when
they load, so this framework imports no app above accounts), ``reading`` (CSV files),
``importer`` (the base class an importer implements), ``accounts`` (the accounts importer),
``jobs`` (the services pages, the task and ``import_csv`` call). Scoring's importers
(metric values, outcomes) live in ``scoring.importers``."""
