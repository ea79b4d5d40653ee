"""Fixtures shared by every test package."""

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.test import override_settings

from revops.celery import app


@pytest.fixture(scope="session", autouse=True)
def fast_password_hashing():
    """Hash test passwords with MD5, as Django advises for test runs: the production hasher is
    deliberately slow (~0.3 s a user) and every test class creates several users. The production
    hashers stay listed after it, so any hash they made still verifies."""
    md5 = "django.contrib.auth.hashers.MD5PasswordHasher"
    with override_settings(PASSWORD_HASHERS=[md5, *settings.PASSWORD_HASHERS]):
        yield


@pytest.fixture(scope="session")
def celery_worker(django_db_blocker):
    """A real Celery worker thread consuming from the real Redis broker (never eager mode)."""
    assert not app.conf.task_always_eager
    app.control.purge()  # leftovers of earlier runs are not ours to execute
    with (
        django_db_blocker.unblock(),
        start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10) as worker,
    ):
        yield worker
