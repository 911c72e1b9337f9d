"""Writes of the surveys app, one module per idea: ``definitions`` (surveys), ``campaigns``
(choosing recipients and queueing them, by an admin or a playbook), ``sending`` (the
batches the worker emails) and ``answers`` (opening, answering, unsubscribing through the
public links). Services are keyword-only, write in one transaction, audit configuration
and sends (``accounts.services.audit``) and raise ``chs_site.errors.ApplicationError``."""
