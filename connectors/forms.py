"""The connector form: the common settings, the credential (never rendered back) and the
kind's mapping fields, with the kind's defaults as initial values."""

from __future__ import annotations

from typing import Any

from django import forms

from connectors.kinds import ConnectorType
from connectors.mapping import MappingError, effective_mapping, format_pairs, parse_pairs
from connectors.models import Connector
from connectors.services.configuration import MAX_INTERVAL_MINUTES, MIN_INTERVAL_MINUTES

MAPPING_PREFIX = "map_"
PAIR_KINDS = ("pairs", "metrics")


class ConnectorForm(forms.Form):
    name = forms.CharField(max_length=100)
    credential = forms.CharField(
        required=False,
        max_length=500,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )
    interval_minutes = forms.IntegerField(
        label="Sync every (minutes)",
        min_value=MIN_INTERVAL_MINUTES,
        max_value=MAX_INTERVAL_MINUTES,
    )
    enabled = forms.BooleanField(
        required=False, label="Enabled", help_text="Syncs run on the schedule only when enabled."
    )
    write_back = forms.BooleanField(
        required=False,
        label="Write scores back",
        help_text="After each score change, set chs_health_score, chs_health_band and"
        " chs_health_updated_at on the linked record.",
    )

    def __init__(
        self, *args: Any, spec: ConnectorType, connector: Connector | None = None, **kwargs: Any
    ) -> None:
        stored = connector.mapping if connector is not None else {}
        mapping = effective_mapping(spec, stored)
        initial = {
            "name": connector.name if connector else spec.label,
            "interval_minutes": (
                connector.interval_minutes if connector else spec.default_interval_minutes
            ),
            "enabled": connector.enabled if connector else False,
            "write_back": connector.write_back if connector else False,
        }
        for field in spec.mapping_fields:
            value = mapping[field.name]
            initial[MAPPING_PREFIX + field.name] = (
                format_pairs(value) if field.kind in PAIR_KINDS else value
            )
        kwargs["initial"] = initial
        super().__init__(*args, **kwargs)
        self.spec = spec
        credential = self.fields["credential"]
        credential.label = spec.credential_label
        credential.help_text = spec.credential_help
        if connector is None:
            credential.required = True
        else:
            credential.help_text = (
                f"Stored: {connector.credential_hint or '••••'}. Leave blank to keep it. "
                + spec.credential_help
            )
        if spec.push is None:
            del self.fields["write_back"]
        for field in spec.mapping_fields:
            self.fields[MAPPING_PREFIX + field.name] = forms.CharField(
                label=field.label,
                help_text=field.help,
                required=False,
                max_length=4000,
                widget=forms.Textarea(attrs={"rows": 4}) if field.kind in PAIR_KINDS else None,
            )

    def settings_fields(self) -> list[forms.BoundField]:
        return [
            self[n]
            for n in ("name", "credential", "interval_minutes", "enabled", "write_back")
            if n in self.fields
        ]

    def mapping_fields(self) -> list[forms.BoundField]:
        return [self[MAPPING_PREFIX + f.name] for f in self.spec.mapping_fields]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        mapping: dict[str, Any] = {}
        for field in self.spec.mapping_fields:
            name = MAPPING_PREFIX + field.name
            value = (cleaned.get(name) or "").strip()
            if field.kind in PAIR_KINDS:
                try:
                    mapping[field.name] = parse_pairs(
                        value, right_is_metric_key=field.kind == "metrics"
                    )
                except MappingError as exc:
                    self.add_error(name, str(exc))
            else:
                mapping[field.name] = value
        cleaned["mapping"] = mapping
        return cleaned
