from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _uploads_in_tmp(media_in_tmp: None) -> None:
    """Every import test's uploads go to a temporary MEDIA_ROOT (see ``media_in_tmp``)."""
