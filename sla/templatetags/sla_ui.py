"""How an SLA clock reads on a page: `{% sla_clock timer %}` and `{{ duration|sla_duration }}`.

The server renders the first frame (right without JavaScript, and what tests read);
static/js/sla-countdown.js then ticks it every second from the same data attributes, with the
same wording. Keep the two in step.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format

from sla.models import SlaTimer, TimerState

register = template.Library()

# Further away than this, a countdown is a big meaningless number ("16h 30m 12s" overnight):
# show when it is due instead. Matches FAR_MS in sla-countdown.js.
FAR = timedelta(hours=6)
SHORT_NAMES = {"follow_up": "Follow-up", "acknowledge": "Acknowledgement", "resolve": "Resolution"}


def span(delta: timedelta) -> str:
    """'4m 05s', '1h 02m 09s', '3d 4h' (seconds only where they are worth ticking)."""
    seconds = max(0, int(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m {seconds:02d}s"
    return f"{minutes}m {seconds:02d}s"


def due_label(due: datetime, now: datetime) -> str:
    """The deadline in the page's time zone: 'Wed 09:30' this week, '2 Dec 09:30' beyond."""
    local = timezone.localtime(due)
    if local.date() == timezone.localtime(now).date():
        return date_format(local, "H:i")
    return date_format(local, "D H:i" if due - now < timedelta(days=6) else "j M H:i")


@dataclass(frozen=True)
class Clock:
    timer: SlaTimer
    status: str  # on-track, at-risk, breached, paused, met, met-late, cancelled
    text: str
    title: str
    due_label: str
    now: datetime

    @property
    def name(self) -> str:
        return SHORT_NAMES.get(self.timer.target, self.timer.get_target_display())

    @property
    def live(self) -> bool:
        return self.timer.state in (TimerState.RUNNING, TimerState.BREACHED)


def clock(timer: SlaTimer, now: datetime) -> Clock:
    left = timer.due_at - now
    label = due_label(timer.due_at, now)
    title = f"Due {date_format(timezone.localtime(timer.due_at), 'D j M Y, H:i T')}"
    state = timer.state
    if state == TimerState.BREACHED or (state == TimerState.RUNNING and left <= timedelta(0)):
        status, text = "breached", f"Breached · {span(-left)} overdue"
    elif state == TimerState.RUNNING:
        status = "at-risk" if now >= timer.warn_at else "on-track"
        text = f"Due {label}" if left > FAR else f"{span(left)} left"
        if status == "at-risk":
            text = f"At risk · {text}"
        title += f"; at risk from {date_format(timezone.localtime(timer.warn_at), 'H:i')}"
    elif state == TimerState.PAUSED:
        status, text = "paused", "Paused"
        if timer.paused_at:
            since = timezone.localtime(timer.paused_at)
            title = f"Paused since {date_format(since, 'D j M, H:i')}; resuming moves the deadline"
    elif state == TimerState.MET:
        late = timer.breached_at is not None
        status, text = ("met-late", "✓ Met late") if late else ("met", "✓ Met")
        if timer.met_at:
            title = f"Met {date_format(timezone.localtime(timer.met_at), 'D j M, H:i')}"
    else:
        status, text = "cancelled", "Cancelled"
    return Clock(timer, status, text, title, label, now)


@register.inclusion_tag("sla/_clock.html", takes_context=True)
def sla_clock(context, timer: SlaTimer, named: bool = False):
    """One timer's clock; `named` prefixes what it measures ('Follow-up', 'Acknowledge')."""
    # One instant per page, so every clock on it agrees.
    now = context.get("sla_now") or timezone.now()
    return {"clock": clock(timer, now), "named": named}


@register.filter
def sla_duration(value: timedelta | None) -> str:
    """A response time for reports: '42m', '3h 05m', '2d 4h'; an em dash when unknown."""
    if value is None:
        return "—"
    minutes = int(value.total_seconds() // 60)
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m"
    return f"{int(value.total_seconds())}s"
