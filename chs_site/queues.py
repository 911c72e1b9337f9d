"""The Celery queues and which task goes to which.

Four queues, so that work of one kind never waits behind another: a 30-minute import
occupies only the ``imports`` workers while ``recompute`` keeps rescoring ingested values
within seconds. A deployment runs at least one worker per queue (``celery worker -Q
recompute`` and so on); ``make serve``'s Procfile does.

A *namespace* prefixes every queue name (``<namespace>.recompute``): empty in production,
private per test run or benchmark so that a developer's running worker never takes their
tasks. ``task_routes(namespace)`` is what settings give Celery; ``queue_names(namespace)``
is what a worker serving every queue passes to ``-Q``.
"""

from __future__ import annotations

RECOMPUTE = "recompute"
PLAYBOOKS = "playbooks"
IMPORTS = "imports"
NOTIFICATIONS = "notifications"
QUEUES: tuple[str, ...] = (RECOMPUTE, PLAYBOOKS, IMPORTS, NOTIFICATIONS)

# Every CHS task by name. The worker heartbeat is not here: beat sends one to each queue
# explicitly (settings' schedule), so /healthz knows that every queue has a live worker.
TASK_QUEUES: dict[str, str] = {
    # Near-real-time rescoring and its housekeeping: short tasks only.
    "scoring.tasks.recompute_dirty": RECOMPUTE,
    "scoring.tasks.sweep_dirty": RECOMPUTE,
    "scoring.tasks.nightly_recompute": RECOMPUTE,
    "scoring.tasks.recompute_chunk": RECOMPUTE,
    "scoring.tasks.prune_score_events": RECOMPUTE,
    "scoring.tasks.rollup_segment": RECOMPUTE,
    "scoring.tasks.prune_segment": RECOMPUTE,
    "chs.ping": RECOMPUTE,
    # Long jobs: CSV imports (up to 30 minutes), history backfills, model refits.
    "accounts.tasks.run_import_job": IMPORTS,
    "scoring.tasks.run_backfill": IMPORTS,
    "scoring.tasks.fit_churn_model": IMPORTS,
    # Connector syncs read a vendor's API for minutes; the dispatcher only queues them.
    "connectors.run_sync": IMPORTS,
    "connectors.dispatch_due_syncs": IMPORTS,
    # Reacting to score changes and the clock.
    "playbooks.process_score_events": PLAYBOOKS,
    "playbooks.evaluate_time_triggers": PLAYBOOKS,
    "playbooks.reopen_snoozed_tasks": PLAYBOOKS,
    # Talking to the outside world (SMTP, Slack, webhooks), which may be slow or down.
    "playbooks.deliver_notification": NOTIFICATIONS,
    "playbooks.retry_failed_notifications": NOTIFICATIONS,
    "playbooks.send_digests": NOTIFICATIONS,
    "playbooks.deliver_channel_post": NOTIFICATIONS,
    "playbooks.retry_failed_channel_posts": NOTIFICATIONS,
    "playbooks.post_renewal_risks": NOTIFICATIONS,
    "playbooks.send_slack_digests": NOTIFICATIONS,
    "outbound.send_deliveries": NOTIFICATIONS,
    # Outbox rows into webhook deliveries (no network): beside the other event consumer.
    "outbound.publish_events": PLAYBOOKS,
    "outbound.prune": PLAYBOOKS,
    "surveys.send_campaign_batch": NOTIFICATIONS,
    "surveys.resume_campaigns": NOTIFICATIONS,
    "connectors.write_back_scores": NOTIFICATIONS,
}

HEARTBEAT_TASK = "accounts.tasks.worker_heartbeat"


def qualified(namespace: str, queue: str) -> str:
    """The broker's name of ``queue`` in ``namespace``."""
    return f"{namespace}.{queue}" if namespace else queue


def queue_names(namespace: str) -> list[str]:
    """Every queue of ``namespace``: what a worker that serves them all passes to ``-Q``."""
    return [qualified(namespace, queue) for queue in QUEUES]


def task_routes(namespace: str) -> dict[str, dict[str, str]]:
    """Celery's ``task_routes``: each task's queue in ``namespace``. The heartbeat's
    default is the recompute queue; beat sends it to every queue by name."""
    routes = {name: {"queue": qualified(namespace, queue)} for name, queue in TASK_QUEUES.items()}
    routes[HEARTBEAT_TASK] = {"queue": qualified(namespace, RECOMPUTE)}
    return routes
