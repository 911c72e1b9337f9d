"""What publishing (or rolling back to) a scorecard version would do, in counts: the
accounts re-scored, those moving band, and the tasks each playbook would create. The
scorecard pages' confirmation and the API's dry run read the same numbers, so a person
and a client are told the same thing before anything changes. Nothing is written."""

from __future__ import annotations

from dataclasses import dataclass

from playbooks.selectors.playbooks import PlaybookEffect, publish_effects
from scoring.models import Scorecard
from scoring.selectors.preview import preview_draft
from scoring.selectors.scorecards import scorecard_spec


@dataclass(frozen=True)
class PublishOutlook:
    accounts: int
    compared_with: str
    moved: int
    effects: list[PlaybookEffect]

    @property
    def tasks(self) -> int:
        return sum(e.tasks for e in self.effects)


def publish_outlook(card: Scorecard) -> PublishOutlook:
    """Making ``card``'s content active, measured with the editor's draft preview and the
    playbooks' own reading of the changes it would make."""
    preview = preview_draft(draft=card, spec=scorecard_spec(card))
    effects = publish_effects(preview.changes, at=preview.at)
    return PublishOutlook(
        accounts=preview.accounts,
        compared_with=preview.compared_with,
        moved=preview.moved,
        effects=[e for e in effects if e.tasks],
    )
