"""Outside debug mode the app refuses to start with a default secret key or open hosts."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def start_django(**overrides: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DJANGO_DEBUG": "0", **overrides}
    env = {key: value for key, value in env.items() if value != "<unset>"}
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_refuses_to_start_without_a_secret_key():
    result = start_django(DJANGO_SECRET_KEY="<unset>")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_refuses_to_start_with_a_short_secret_key():
    result = start_django(DJANGO_SECRET_KEY="short")
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_refuses_to_start_with_open_hosts():
    for hosts in ["*", ""]:
        result = start_django(DJANGO_SECRET_KEY="k" * 50, DJANGO_ALLOWED_HOSTS=hosts)
        assert result.returncode != 0, hosts
        assert "DJANGO_ALLOWED_HOSTS" in result.stderr


def test_refuses_a_malformed_boolean():
    result = start_django(DJANGO_DEBUG="maybe")
    assert "DJANGO_DEBUG must be a boolean" in result.stderr


def test_starts_when_configured_and_debug_may_use_the_development_key():
    assert start_django(
        DJANGO_SECRET_KEY="k" * 50, DJANGO_ALLOWED_HOSTS="hub.example.com"
    ).stdout == ("started\n")
    assert start_django(DJANGO_DEBUG="1", DJANGO_SECRET_KEY="<unset>").stdout == "started\n"
