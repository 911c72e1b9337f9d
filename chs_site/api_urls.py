"""All REST endpoints under /api/v1/; each app declares its own in ``<app>/api.py``."""

from __future__ import annotations

from accounts.api import urlpatterns as accounts_api
from accounts.audit_api import urlpatterns as audit_api
from outbound.api import urlpatterns as outbound_api
from playbooks.api import urlpatterns as playbooks_api
from scoring.api import urlpatterns as scoring_api
from scoring.segment_api import urlpatterns as segment_api
from scoring.validation_api import urlpatterns as validation_api

urlpatterns = [
    *accounts_api,
    *audit_api,
    *scoring_api,
    *segment_api,
    *validation_api,
    *playbooks_api,
    *outbound_api,
]
