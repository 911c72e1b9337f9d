"""The Content-Security-Policy header: on every page (404 included), loosened for the API
docs alone, switchable to report-only from the environment, and no template carrying
what the policy would block."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client, override_settings

from accounts.models import Account

ROOT = Path(__file__).resolve().parents[2]


def directives(header: str) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


def test_a_page_carries_the_strict_policy(client: Client) -> None:
    response = client.get("/login/")
    assert response.status_code == 200
    assert "Content-Security-Policy-Report-Only" not in response.headers
    policy = directives(response.headers["Content-Security-Policy"])
    assert policy == {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }


def test_the_404_page_and_a_logged_in_page_carry_it_too(
    csm_client: Client, account: Account
) -> None:
    missing = csm_client.get("/no-such-page/")
    assert missing.status_code == 404
    assert "script-src 'self'" in missing.headers["Content-Security-Policy"]
    page = csm_client.get(f"/accounts/{account.external_id}/")
    assert page.status_code == 200
    assert "style-src 'self'" in page.headers["Content-Security-Policy"]


def test_the_api_docs_allow_data_images_and_load_their_script_from_a_url(client: Client) -> None:
    page = client.get("/api/docs/")
    assert page.status_code == 200
    policy = directives(page.headers["Content-Security-Policy"])
    assert policy["img-src"] == ["'self'", "data:"]
    assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
    html = page.content.decode()
    assert "<style" not in html
    assert re.findall(r"<script(?![^>]*\bsrc=)", html) == []
    script_url = re.findall(r'<script src="(/api/docs/\?[^"]*)"', html)
    assert len(script_url) == 1
    script = client.get(script_url[0].replace("&amp;", "&"))
    assert script.status_code == 200
    assert script.headers["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle" in script.content
    # Only the docs: the rest of the site keeps data: images out.
    assert "data:" not in client.get("/login/").headers["Content-Security-Policy"]


@override_settings(
    CONTENT_SECURITY_POLICY=None,
    CONTENT_SECURITY_POLICY_REPORT_ONLY={
        "DIRECTIVES": {"default-src": ["'self'"], "report-uri": ["/csp-report/"]}
    },
)
def test_in_report_only_mode_the_policy_is_reported_not_enforced(client: Client) -> None:
    response = client.get("/login/")
    assert "Content-Security-Policy" not in response.headers
    assert response.headers["Content-Security-Policy-Report-Only"] == (
        "default-src 'self'; report-uri /csp-report/"
    )
    docs = client.get("/api/docs/")
    assert "img-src data:" in docs.headers["Content-Security-Policy-Report-Only"]


def policies_from(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The enforced and the report-only policy that the settings build from ``env``."""
    code = (
        "import django, json; django.setup(); from csp.utils import build_policy; "
        "print(json.dumps([build_policy(), build_policy(report_only=True)]))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            "PATH": os.environ["PATH"],
            "DJANGO_SETTINGS_MODULE": "chs_site.settings",
            "DEBUG": "1",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_report_only_and_report_uri_come_from_the_environment() -> None:
    enforced = policies_from({"CSP_REPORT_URI": "https://csp.example.com/report"})
    assert enforced.returncode == 0, enforced.stderr
    policy, report_only = json.loads(enforced.stdout)
    assert "frame-ancestors 'none'" in policy
    assert policy.endswith("; report-uri https://csp.example.com/report")
    assert report_only == ""

    rolling_out = policies_from({"CSP_REPORT_ONLY": "1", "CSP_REPORT_URI": "/csp-report/"})
    assert rolling_out.returncode == 0, rolling_out.stderr
    policy, report_only = json.loads(rolling_out.stdout)
    assert policy == ""
    assert "script-src 'self'" in report_only
    assert report_only.endswith("; report-uri /csp-report/")


@pytest.mark.parametrize("bad", ["csp-report", "/report; script-src *"])
def test_a_report_uri_that_is_not_a_url_is_refused_by_name(bad: str) -> None:
    result = policies_from({"CSP_REPORT_URI": bad})
    assert result.returncode != 0
    assert "CSP_REPORT_URI must be a path such as /csp-report/ or an http(s) URL" in result.stderr


# What a policy without 'unsafe-inline' and 'unsafe-eval' blocks, in a template.
BLOCKED = {
    "inline script": re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE),
    "style element": re.compile(r"<style\b", re.IGNORECASE),
    "style attribute": re.compile(r"\sstyle\s*=", re.IGNORECASE),
    "event handler": re.compile(r"\son[a-z]+\s*=", re.IGNORECASE),
    "javascript: URL": re.compile(r"javascript:", re.IGNORECASE),
    "htmx code (hx-on, js: values)": re.compile(r"hx-on|hx-vals=.js:", re.IGNORECASE),
}


def test_no_template_carries_what_the_policy_blocks() -> None:
    found = [
        f"{path.relative_to(ROOT)}: {what}"
        for path in sorted((ROOT / "templates").rglob("*.html"))
        for what, pattern in BLOCKED.items()
        if pattern.search(path.read_text())
    ]
    assert found == []


def test_the_guard_above_sees_each_kind_it_names() -> None:
    samples = {
        "inline script": "<script>alert(1)</script>",
        "style element": "<style>p{}</style>",
        "style attribute": '<p style="color:red">',
        "event handler": '<a onclick="x()">',
        "javascript: URL": '<a href="javascript:x()">',
        "htmx code (hx-on, js: values)": '<form hx-on:submit="x()">',
    }
    assert {
        what: bool(BLOCKED[what].search(html)) for what, html in samples.items()
    } == dict.fromkeys(samples, True)
    assert not BLOCKED["inline script"].search('<script src="/static/x.js" defer></script>')
