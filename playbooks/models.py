"""Playbooks (trigger → conditions → actions), their runs, tasks and success plans."""

from __future__ import annotations
