from collections.abc import Iterator
from contextlib import contextmanager

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction


@contextmanager
def constraint_as_field_error(constraint: str, field: str, message: str) -> Iterator[None]:
    """Turn a violation of one named database constraint into a field error (a 400 in the API).

    For what validation cannot see coming: two concurrent saves that both passed the checks.
    The savepoint keeps the caller's transaction usable after the failed INSERT.
    """
    try:
        with transaction.atomic():
            yield
    except IntegrityError as error:
        if constraint not in str(error):
            raise
        raise ValidationError({field: [message]}) from error
