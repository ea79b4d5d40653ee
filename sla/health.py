"""What operators alert on: how far behind the sweep and the outbox are, across organizations."""

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.db.models import Min
from django.utils import timezone

from sla.models import DeliveryState, OutboxMessage
from sla.sweep import sweep_lag


@dataclass(frozen=True)
class SlaHealth:
    # Age of the oldest timer check already due and not yet processed (0: caught up).
    sweep_lag_seconds: float
    # Age of the oldest message waiting for its (first or next) delivery attempt.
    outbox_lag_seconds: float
    outbox_failed_last_day: int

    def as_dict(self) -> dict:
        return asdict(self)


def sla_health(now: datetime | None = None) -> SlaHealth:
    now = now or timezone.now()
    pending = OutboxMessage.objects.unscoped()  # health covers every organization
    oldest = pending.filter(state=DeliveryState.PENDING, next_attempt_at__lte=now).aggregate(
        oldest=Min("next_attempt_at")
    )["oldest"]
    failed = pending.filter(
        state=DeliveryState.FAILED, updated_at__gte=now - timedelta(days=1)
    ).count()
    return SlaHealth(
        sweep_lag_seconds=sweep_lag(now),
        outbox_lag_seconds=0.0 if oldest is None else (now - oldest).total_seconds(),
        outbox_failed_last_day=failed,
    )
