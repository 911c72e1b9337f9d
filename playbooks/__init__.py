"""The playbooks app, on top: turning score changes and time into tasks for the right person.

Owns playbooks (trigger → conditions → actions), their firing and run log, tasks and their
lifecycle, bulk outreach, success plans and notifications. Imports surveys (the
``send_survey`` action), scoring and accounts; nothing imports it but the pages. Score changes and detractor feedback arrive as scoring's ``ScoreEvent``
rows, claimed by ``services.firing.process_score_events`` (nudged by name after each
recompute batch, and on beat every 20 s). It also holds the Today page, each person's
home: ``selectors.attention`` ranks the accounts that need attention from every app's
signals, ``services.attention`` snoozes them.

A new trigger: its ``TriggerType`` and fields in ``models.py``, its matching in
``triggers.py`` (``match_changes`` for score triggers, ``match_state`` for time ones), its
form fields in ``forms.py``; a new action kind: ``PlaybookAction`` and
``services.firing.fire``."""
