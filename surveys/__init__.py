"""The surveys app: NPS and CSAT surveys sent to customer contacts by email.

Sits between scoring and playbooks: it imports accounts (contacts, accounts, the audit log)
and scoring (``scoring.services.feedback.log_feedback``, which turns an answer into feedback
on the account's timeline and an ``nps``/``csat`` metric value, so the score and the
detractor playbooks react within seconds); playbooks import it (the ``send_survey`` action),
never the reverse.

An admin defines a ``Survey`` (kind, question, follow-up) and sends a ``Campaign`` to the
contacts of the accounts that match its filters (``selectors.audience``). Each contact is a
``Recipient`` row: queued in the campaign's transaction, sent in batches by the
``surveys.send_campaign_batch`` task (``services.sending``), opened and answered through a
signed, single-use link to a public page (``services.answers``). A contact who unsubscribed
(``OptOut``) or was surveyed within ``SURVEY_THROTTLE_DAYS`` is never queued."""
