from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scoring.services import ScoreChange


def evaluate_score_changes(*, changes: list[ScoreChange]) -> int:
    """Evaluated by the playbooks issue; returns the number of tasks created"""
    return 0
