"""Reads of the accounts app, one module per idea: access (who may see which account and
person: DESIGN.md's role table lives there and only there), portfolio (a book filtered and
sorted from indexes), timeline (an account's activity), team (a manager's book at a
glance), tokens (an API key's token).

Every page, endpoint and query that touches accounts goes through
``access.visible_accounts``; outside a user's scope is a 404. Score and task reads live in
``scoring.selectors`` and ``playbooks.selectors``: this app imports no other."""
