from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chs_site.settings")

application = get_wsgi_application()

from chs_site.startup import freeze_loaded_objects  # noqa: E402 - needs the app set up

freeze_loaded_objects()
