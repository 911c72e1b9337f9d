from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import Account, User
from scoring.models import MetricDefinition, MetricValue

pytestmark = pytest.mark.django_db


def test_import_csv_command_uses_the_same_importer(
    tmp_path: Path, account: Account, logins: MetricDefinition
) -> None:
    path = tmp_path / "wide.csv"
    path.write_text("Customer,Day,Logins\nACME-1,2026-01-01,5\nACME-1,2026-01-02,6\n")
    out = StringIO()
    mapping = {
        "fields": {"account": "Customer", "observed_at": "Day"},
        "metrics": {"Logins": "logins"},
    }
    call_command(
        "import_csv", "metrics_wide", str(path), "--mapping", json.dumps(mapping), stdout=out
    )
    assert "values 2" in out.getvalue()
    assert MetricValue.objects.count() == 2


def test_import_csv_command_reports_bad_rows_and_imports_nothing(
    tmp_path: Path, account: Account, logins: MetricDefinition
) -> None:
    path = tmp_path / "long.csv"
    path.write_text(
        "account,metric,value,observed_at\nACME-1,logins,5,2026-01-01\nACME-1,logins,oops,2026-01-02\n"
    )
    err = StringIO()
    with pytest.raises(CommandError, match="1 bad row in 2"):
        call_command("import_csv", "metrics_long", str(path), stderr=err)
    assert "line 3, column value: 'oops' is not a number" in err.getvalue()
    assert not MetricValue.objects.exists()


def test_import_csv_command_with_a_users_scope(
    tmp_path: Path, csm: User, manager: User, other_account: Account
) -> None:
    path = tmp_path / "acc.csv"
    path.write_text("external_id,name,owner\nOTHER-1,Hijack,csm\n")
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_csv", "accounts", str(path), "--as", "manager", stderr=StringIO())
    assert Account.objects.get(external_id="OTHER-1").name != "Hijack"


def test_import_csv_command_explains_an_incomplete_mapping(tmp_path: Path, db: None) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(CommandError, match="observed_at: choose the column"):
        call_command("import_csv", "metrics_long", str(path))
    with pytest.raises(CommandError, match="not valid JSON"):
        call_command("import_csv", "metrics_long", str(path), "--mapping", "{")
