"""The accounts app: people and the customer accounts they look after, at the bottom.

Owns users, roles and teams; customer accounts, contacts, feedback rows and the activity
timeline; API tokens; the CSV import framework (``accounts.imports``: other apps register
their importers with it); and who may see what (``accounts.selectors.access``, the one home
of DESIGN.md's role table). It imports no other app: scoring and playbooks build on it.

New page here: a function view in ``views.py`` that fetches through
``selectors.access.get_account_for_user`` (outside a user's scope is a 404); a new
importer of account data: ``accounts/imports/``, registered in ``AccountsConfig.ready``."""
