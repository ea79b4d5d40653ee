"""Fixtures shared by every test package."""

import pytest
from celery.contrib.testing.worker import start_worker

from revops.celery import app


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
