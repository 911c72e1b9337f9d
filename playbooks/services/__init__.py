"""Writes of the playbooks app, one module per idea: firing (score events, the beat sweep
and "run now" fire playbooks), tasks (the task lifecycle), outreach (tasks in bulk),
plans (success plans), notifications (in-app, email, webhook) and configuration.

Playbooks sit on top: they import scoring and accounts, nothing imports them. Score changes
and detractor feedback arrive as ``scoring.models.ScoreEvent`` rows that
``firing.process_score_events`` claims."""
