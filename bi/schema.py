"""The documented ``chs_bi`` schema: every view, its columns in order, what each means.

The single source of the contract: a test compares it with the views PostgreSQL holds
after the migrations, and the README's table with ``markdown()``. Accounts are named by
their ``external_id`` (the CRM's id) in every view, as everywhere in CHS."""

from __future__ import annotations

SCHEMA = "chs_bi"
VERSION = 1

VIEWS: dict[str, tuple[str, dict[str, str]]] = {
    "accounts": (
        "One row per customer account with its current health.",
        {
            "account_id": "The account's id in the CRM (external_id).",
            "account_name": "Name.",
            "domain": "Web domain.",
            "segment": "Segment, or null.",
            "owner_username": "The owning CSM's username, or null.",
            "owner_name": "The owning CSM's full name, or null.",
            "team": "The owner's team, or null.",
            "arr": "Annual recurring revenue.",
            "renewal_date": "Next renewal date, or null.",
            "lifecycle_stage": "onboarding, adoption, expansion, renewal or churned.",
            "health_score": "Score shown (an active override, else the computed score), 0–100.",
            "health_band": "Band shown: red, yellow, green, or null (no data).",
            "computed_score": "Score the scorecard computed, 0–100, or null.",
            "computed_band": "Band of the computed score, or null.",
            "scored_at": "When the score was last computed.",
            "score_change_30d": "Computed score now minus 30 days ago.",
            "open_tasks": "Open tasks on the account.",
            "created_at": "When the account was added to CHS.",
            "updated_at": "Last change to the account's row.",
        },
    ),
    "score_history": (
        "One row per change of an account's computed score or band.",
        {
            "score_id": "Row id (joins measure_points).",
            "account_id": "The account's id in the CRM.",
            "scored_at": "When this score was computed.",
            "score": "Computed score, 0–100, or null (no data).",
            "band": "red, yellow, green, or null.",
            "scorecard_name": "The scorecard that computed it.",
            "scorecard_version": "Its version.",
            "scorecard_segment": "The segment it applies to, or null (the default scorecard).",
        },
    ),
    "measure_points": (
        "One row per measure of each score in score_history: why the score is what it is.",
        {
            "score_id": "The score_history row.",
            "account_id": "The account's id in the CRM.",
            "scored_at": "When the score was computed.",
            "position": "The measure's position in the scorecard (1 = first).",
            "metric": "Metric key.",
            "measure_name": "Metric name.",
            "aggregation": "latest, avg, sum, count or change_pct.",
            "window_days": "The measure's window.",
            "value": "The aggregated value, or null (missing).",
            "points": "Points 0–100, or null when the measure did not count.",
            "weight": "The measure's weight.",
            "contribution": "Points × weight / Σ weight: the contributions add up to the score.",
            "stale": "True when the newest value was older than the window.",
        },
    ),
    "metric_values": (
        "Every metric value received (API, CSV, feedback, connectors).",
        {
            "value_id": "Row id.",
            "account_id": "The account's id in the CRM.",
            "metric": "Metric key.",
            "value": "The value.",
            "observed_at": "When it was observed.",
        },
    ),
    "tasks": (
        "Outreach tasks, by people or playbooks.",
        {
            "task_id": "Row id.",
            "account_id": "The account's id in the CRM.",
            "title": "Title.",
            "status": "open, snoozed, done, cancelled or resolved (closed by itself).",
            "priority": "low, normal, high or urgent.",
            "due_date": "Due date, or null.",
            "assignee_username": "Assignee's username, or null.",
            "playbook_name": "The playbook that created it, or null.",
            "created_at": "When it was created.",
            "closed_at": "When it was closed, or null.",
        },
    ),
    "outcomes": (
        "Renewals, churns, expansions and contractions.",
        {
            "outcome_id": "Row id.",
            "account_id": "The account's id in the CRM.",
            "kind": "renewed, churned, expanded or contracted.",
            "occurred_on": "The date it happened.",
            "arr_change": "Change of ARR it brought.",
            "recorded_at": "When it was recorded in CHS.",
        },
    ),
    "survey_answers": (
        "Answers to NPS and CSAT survey campaigns (no contact details).",
        {
            "answer_id": "Row id.",
            "account_id": "The account's id in the CRM.",
            "campaign_id": "The campaign it answered.",
            "survey_name": "The survey's name.",
            "survey_kind": "nps (0–10) or csat (1–5).",
            "score": "The answer.",
            "comment": "The comment, or null.",
            "sent_at": "When the survey email was sent.",
            "opened_at": "When the link was first opened.",
            "answered_at": "When it was answered.",
        },
    ),
}


def markdown() -> str:
    """The README's table of views and columns."""
    lines = ["| view | column | meaning |", "|---|---|---|"]
    for view, (about, columns) in VIEWS.items():
        lines.append(f"| `{SCHEMA}.{view}` | | {about} |")
        lines += [f"| | `{name}` | {meaning} |" for name, meaning in columns.items()]
    return "\n".join(lines)
