"""Reads of the scoring app, one module per idea: scorecards (versions as engine specs, and
which accounts each scores), window_stats (the recompute's SQL reader of metric values),
history (stored scores, "why it moved", "path to green"), health (one account's or a
page of accounts' score, override and pending state), team (a book's score history at a
glance), preview (what a draft would do, before it is saved).

Permission is the caller's: pages fetch accounts through ``accounts.selectors.access``
first. Nothing here imports playbooks."""
