"""Throttling of failed logins per (email, client address), counted in the shared cache."""

import hashlib

from django.conf import settings
from django.core.cache import cache


def _key(email: str, client_address: str) -> str:
    digest = hashlib.sha256(f"{email.strip().lower()}|{client_address}".encode()).hexdigest()
    return f"login-failures:{digest}"


def login_is_throttled(*, email: str, client_address: str) -> bool:
    return cache.get(_key(email, client_address), 0) >= settings.LOGIN_FAILURE_LIMIT


def login_failure_record(*, email: str, client_address: str) -> None:
    key = _key(email, client_address)
    # add() starts the window only on the first failure; incr() keeps its expiry.
    if not cache.add(key, 1, timeout=settings.LOGIN_FAILURE_WINDOW_SECONDS):
        cache.incr(key)


def login_failures_clear(*, email: str, client_address: str) -> None:
    cache.delete(_key(email, client_address))
