"""Writes of the accounts app, one module per idea: people (users and teams), accounts
(the customer records and their owners), tokens (API keys), feedback (the feedback row and
its timeline line; turning it into metrics is scoring's), heartbeat (workers checking in).

Services validate, authorise where they take an actor, write in one transaction and raise
``chs_site.errors.ApplicationError`` with a message a person can act on. This app imports
no other app: scoring and playbooks build on it."""
