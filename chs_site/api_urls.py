"""All REST endpoints under /api/v1/; each app declares its own in ``<app>/api.py``."""

from __future__ import annotations

from accounts.api import urlpatterns as accounts_api
from playbooks.api import urlpatterns as playbooks_api
from scoring.api import urlpatterns as scoring_api
from scoring.validation_api import urlpatterns as validation_api

# scoring.validation_api holds scoring's backtest and suggested-weights endpoints.
urlpatterns = [*accounts_api, *scoring_api, *playbooks_api, *validation_api]
