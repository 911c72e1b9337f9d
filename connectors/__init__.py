"""Connectors: accounts and signals read from outside systems on a schedule, and scores
written back to CRMs.

It sits above scoring, beside playbooks: it imports accounts and scoring (their models,
selectors and services) and nothing imports it. One idea per module:

- ``models``: ``Connector`` (kind, encrypted credential, mapping, schedule, cursor,
  health), ``SyncRun`` (one per sync or write-back: times, counts, errors),
  ``ExternalLink`` (vendor id → account: what makes a sync an upsert) and
  ``PendingWriteBack`` (scores waiting for a CRM).
- credentials are encrypted with ``chs_site.secrets`` (``ENCRYPTION_KEY``), like every
  secret CHS keeps.
- ``kinds``: the contract of a kind (``ConnectorType``, ``Record``, ``Page``); one module
  per vendor (``kinds.hubspot``, ``kinds.salesforce``, ``kinds.stripe``,
  ``kinds.zendesk``); ``registry`` lists them.
- ``mapping``: a kind's defaults merged with the admin's changes.
- ``ratelimit``: 429 + Retry-After and exponential backoff, the same for every vendor.
- ``runner``: one sync run (savepoint per record, cursor per committed page).
- ``writeback``: the score-event consumer "crm" and the push to CRMs.
- ``services``: configuration (audited) and starting syncs (Sync now, the schedule).
- ``selectors``, ``forms``, ``views``, ``urls``, ``tasks``; ``demo`` for ``seed_demo``.

Adding a connector (e.g. Salesforce): write ``kinds/salesforce.py`` with a ``KIND`` — its
labels, credential help, ``mapping_fields`` with defaults, ``metric_definitions``, and
``read(context)`` yielding ``Page``s of ``Record``s from ``context.cursor`` through the
vendor's client, turning the client's errors into ``ratelimit``'s three through
``call_with_backoff``; a CRM also gives ``push`` for the write-back. Then add a
``ConnectorKind`` choice (a migration) and the module to ``registry.KINDS``. The runner,
the page, the schedule, the run rows and the write-back need no change. Test it against a
fake of the vendor's API in ``tests/connectors/fakes.py`` (``support_fakes.py`` for
Salesforce, served over HTTPS from a local CA, and Zendesk)."""
