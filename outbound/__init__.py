"""Outbound: signed webhooks and Zapier-style REST hooks, the top of the app stack.

It imports accounts, scoring and playbooks; nothing imports it. News arrives as rows in
two outboxes written in the transaction of each change: scoring's ``ScoreEvent`` (score
and band changes; consumer ``webhooks``) and accounts' ``OutboxEvent`` (tasks, playbook
firings, outcomes, imports). ``services.publish`` claims both with ``SKIP LOCKED`` and,
in the same transaction, writes one ``Event`` (the documented, versioned payload) and one
``Delivery`` per subscribed endpoint, then marks the outbox rows processed: a crash loses
nothing and sends nothing twice. ``services.delivery`` sends due deliveries, each claimed
by a conditional UPDATE with a lease, signed per Standard Webhooks (``signing``), retried
with exponential backoff and jitter for a day.

Modules: ``models`` (endpoints, events, deliveries), ``events`` (types, payloads,
examples), ``signing``, ``services.subscriptions`` (endpoints and hooks, audited),
``services.publish``, ``services.delivery``, ``selectors``, ``tasks``, ``views`` (the
Webhooks page), ``api`` (``/api/v1/webhooks/`` and ``/api/v1/hooks/``)."""
