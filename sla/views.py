"""SLA pages: the report every member reads, the timer list, and the notification bell.

Views translate: small forms parse the query string and posts, selectors read, services write.
Times read in the organization's time zone (`organization_view` sets it); `now` is frozen once
per request so every figure and clock on a page agrees.
"""

import json
from datetime import date, datetime, timedelta

import plotly.graph_objects as go
from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from revops import charts
from revops.dates import day_range
from revops.tenancy import selectors as tenancy_selectors
from revops.tenancy.access import organization_view
from revops.tenancy.models import Role
from sla import selectors, services
from sla.models import Notification, TimerState, TimerTarget, compiled_calendar

BREACHES_PER_PAGE = 25
TIMERS_PER_PAGE = 50
MAX_RANGE_DAYS = 731
TARGET_COLOURS = {"follow_up": "#1f4e79", "acknowledge": "#b9770e", "resolve": "#6c3483"}


# --- shared helpers ---------------------------------------------------------------------------


def _back(request, default: str):
    """Back to the page the form was posted from (filters kept), if it is this organization's."""
    target = request.POST.get("next", "")
    if target.startswith(f"/o/{request.organization.slug}/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect(default)


def _errors(error: ValidationError) -> str:
    return " ".join(error.messages)


def _labelled(rows) -> list[tuple]:
    return [(row.label, row) for row in rows]


def _member_names() -> dict[str, str]:
    """Email → display name, for the report's per-rep rows (the selector groups by email)."""
    return {m.user.email: m.user.display_name for m in tenancy_selectors.organization_members()}


# --- the report -------------------------------------------------------------------------------


class ReportForm(forms.Form):
    """The report's window and grouping; they live in the URL so a view can be shared."""

    range = forms.ChoiceField(
        required=False,
        initial="30",
        choices=[("30", "Last 30 days"), ("90", "Last 90 days"), ("custom", "Custom dates")],
    )
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    group = forms.ChoiceField(
        required=False, initial="week", label="Group by",
        choices=[("week", "Week"), ("month", "Month")],
    )  # fmt: skip

    def clean(self):
        data = super().clean()
        if data.get("range") == "custom":
            start, end = data.get("start"), data.get("end")
            if not start or not end:
                raise ValidationError("Give both dates for a custom range.")
            if start > end:
                raise ValidationError("The start date is after the end date.")
            if (end - start).days > MAX_RANGE_DAYS:
                raise ValidationError("Choose at most two years.")
        return data

    def window(self, today: date) -> tuple[date, date, str]:
        """First and last day (inclusive) and the grouping; last 30 days when invalid."""
        data = self.cleaned_data if self.is_valid() else {}
        group = data.get("group") or "week"
        if data.get("range") == "custom":
            return data["start"], data["end"], group
        days = 90 if data.get("range") == "90" else 30
        return today - timedelta(days=days - 1), today, group


def _last_day(period) -> date:
    """A period ends at the next one's first instant; people read its last day."""
    return timezone.localtime(period.ends_at - timedelta(microseconds=1)).date()


def _layout(**extra) -> dict:
    return charts.layout(14, {"height": 340, "margin": {"l": 56, "r": 24, "t": 16, "b": 40},
                              "legend": {"orientation": "h", "y": -0.18}, **extra})  # fmt: skip


def _figure(fig: go.Figure) -> dict:
    # to_json turns numpy values and dates into plain JSON; json_script embeds the result.
    return json.loads(fig.to_json())


def trend_figure(rows: list[dict], group: str, first_day: date, last_day: date) -> dict | None:
    """Compliance % per week or month, one line per commitment, over the whole window (so a
    single point sits in its week instead of an axis zoomed to hours)."""
    if not rows:
        return None
    labels = dict(TimerTarget.choices)
    fig = go.Figure()
    for target in dict.fromkeys(row["target"] for row in rows):
        mine = [row for row in rows if row["target"] == target]
        fig.add_trace(
            go.Scatter(
                x=[timezone.localtime(row["period"]).date().isoformat() for row in mine],
                y=[row["percent"] for row in mine],
                customdata=[[row["on_time"], row["breached"]] for row in mine],
                name=labels.get(target, target),
                mode="lines+markers",
                line={"width": 3, "color": TARGET_COLOURS.get(target)},
                marker={"size": 8},
                hovertemplate="%{y:.1f}% on time<br>%{customdata[0]} on time, "
                "%{customdata[1]} breached<extra>%{fullData.name}</extra>",
            )
        )
    pad = timedelta(days=4 if group == "week" else 16)
    if group == "week":
        first_period = first_day - timedelta(days=first_day.weekday())  # weeks start on Monday
    else:
        first_period = first_day.replace(day=1)
    fig.update_layout(
        **_layout(showlegend=True),
        yaxis={"range": [-4, 104], "tickvals": [0, 25, 50, 75, 100],
               "ticktext": ["0%", "25%", "50%", "75%", "100%"], "title": None},
        xaxis={"type": "date", "title": None,
               "range": [(first_period - pad).isoformat(), (last_day + pad).isoformat()],
               "tick0": first_period.isoformat(),
               "dtick": 7 * 86_400_000 if group == "week" else "M1",
               "tickformat": "%-d %b" if group == "week" else "%b %Y"},
    )  # fmt: skip
    return _figure(fig)


def pacing_figure(series: dict) -> dict:
    """Cumulative SQLs delivered against the expected pace and the period's target."""
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=series["days"], y=series["expected"], name="Expected pace",
            mode="lines", line={"dash": "dash", "width": 2, "color": "#7f8c8d"},
            hovertemplate="%{y:.1f} expected<extra></extra>",
        )
    )  # fmt: skip
    fig.add_trace(
        go.Scatter(
            x=series["days"], y=series["delivered"], name="Delivered",
            mode="lines+markers", line={"width": 3, "color": "#1f4e79"}, marker={"size": 6},
            hovertemplate="%{y} delivered<extra></extra>",
        )
    )  # fmt: skip
    fig.add_trace(
        go.Scatter(
            x=[series["days"][0], series["days"][-1]] if series["days"] else [],
            y=[series["target"], series["target"]], name=f"Target ({series['target']})",
            mode="lines", line={"width": 2, "color": "#b03a2e", "dash": "dot"},
            hovertemplate="target %{y}<extra></extra>",
        )
    )  # fmt: skip
    fig.update_layout(
        **_layout(),
        yaxis={"rangemode": "tozero", "title": "SQLs"},
        xaxis={"type": "date", "tickformat": "%-d %b", "title": None},
    )
    return _figure(fig)


def _pacing(period, number: int, now: datetime) -> dict:
    """A running period as of this request (the stored figures are the sweep's, up to ten
    minutes old): delivered so far, expected by now, and the chart."""
    series = selectors.volume_pacing_series(period, now=now)
    delivered = next((v for v in reversed(series["delivered"]) if v is not None), 0)
    calendar = compiled_calendar(period.policy.calendar)
    total = calendar.business_us(period.starts_at, period.ends_at)
    elapsed = calendar.business_us(period.starts_at, min(now, period.ends_at))
    expected = period.target * elapsed / total if total else float(period.target)
    # The sweep's rule (sla.volume._check), on these figures.
    at_risk = expected >= 1 and delivered < expected * period.policy.warn_percent / 100
    period.last_day = _last_day(period)
    return {
        "period": period,
        "at_risk": at_risk,
        "delivered": delivered,
        "expected": expected,
        "pacing": round(100 * delivered / expected) if expected else None,
        "figure": pacing_figure(series),
        "figure_id": f"pacing-figure-{number}",
    }


def _may_explain(request, event) -> bool:
    """Mirrors services.breach_explain: the owner, an admin, or marketing for its own SLAs."""
    membership = request.membership
    if not membership.can_write:
        return False
    timer = event.timer
    return (
        membership.is_admin
        or (timer is not None and timer.owner_id == request.user.pk)
        or (
            membership.role == Role.MARKETING
            and (timer is None or timer.target != TimerTarget.FOLLOW_UP)
        )
    )


@organization_view
def sla_report(request):
    now = timezone.now()
    form = ReportForm(request.GET or None, initial={"range": "30", "group": "week"})
    first_day, last_day, group = form.window(timezone.localdate(now))
    start, end = day_range(first_day, last_day, timezone.get_current_timezone())

    names = _member_names()
    by_owner = [
        (names.get(row.label, row.label), row)
        for row in selectors.compliance(start=start, end=end, by="owner")
    ]
    breaches = Paginator(selectors.breach_log(start=start, end=end), BREACHES_PER_PAGE).get_page(
        request.GET.get("page")
    )
    for event in breaches.object_list:
        event.may_explain = _may_explain(request, event)

    pacing = [
        _pacing(period, number, now)
        for number, period in enumerate(selectors.volume_current(), start=1)
    ]
    # The running periods are charted above; the table is for results.
    periods = [period for period in selectors.volume_periods(12) if period.closed_at]
    for period in periods:
        period.last_day = _last_day(period)

    return render(
        request,
        "sla/report.html",
        {
            "form": form,
            "first_day": first_day,
            "last_day": last_day,
            "group": group,
            "by_target": _labelled(selectors.compliance(start=start, end=end, by="target")),
            "by_team": _labelled(selectors.compliance(start=start, end=end, by="team")),
            "by_owner": by_owner,
            "trend": trend_figure(
                selectors.compliance_trend(start=start, end=end, period=group),
                group,
                first_day,
                last_day,
            ),
            "touch": selectors.first_touch_times(start=start, end=end),
            "breaches": breaches,
            "pacing": pacing,
            "periods": periods,
        },
    )


class ExplainForm(forms.Form):
    explanation = forms.CharField(max_length=2000)


@require_POST
@organization_view
def sla_breach_explain(request, event_id: int):
    event = selectors.breach_log().filter(pk=event_id).first()
    if event is None:
        raise Http404("No such breach.")
    default = reverse("sla_report", args=[request.organization.slug])
    form = ExplainForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say what happened (at most 2,000 characters).")
        return _back(request, default)
    try:
        services.breach_explain(
            event=event,
            actor=request.user,
            explanation=form.cleaned_data["explanation"],
            is_admin=request.membership.is_admin,
        )
    except ValidationError as error:
        messages.error(request, _errors(error))
    else:
        messages.success(request, "Explanation saved.")
    return _back(request, default)


# --- the timer list ---------------------------------------------------------------------------


class TimerFilterForm(forms.Form):
    state = forms.ChoiceField(required=False, choices=[("", "Any state"), *TimerState.choices])
    target = forms.ChoiceField(
        required=False, label="Commitment", choices=[("", "Any"), *TimerTarget.choices]
    )
    owner = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)

    def __init__(self, *args, owners, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = [("", "Anyone")] + [
            (user.pk, user.display_name) for user in owners
        ]

    def selector_kwargs(self) -> dict:
        """The valid filters; a stale or hand-edited value is ignored, not an error page."""
        self.is_valid()
        data = self.cleaned_data
        return {
            "state": data.get("state") or "",
            "target": data.get("target") or "",
            "owner_id": data.get("owner"),
        }


@organization_view
def sla_timers(request):
    owners = sorted(
        (m.user for m in tenancy_selectors.organization_members()), key=lambda u: u.display_name
    )
    filters = TimerFilterForm(request.GET, owners=owners)
    page = Paginator(selectors.timers(**filters.selector_kwargs()), TIMERS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "sla/timers.html",
        {
            "filters": filters,
            "page": page,
            "may_manage": request.membership.is_admin,
            "sla_now": timezone.now(),
        },
    )


def _timer_or_404(timer_id: int):
    timer = selectors.timers().filter(pk=timer_id).first()
    if timer is None:
        raise Http404("No such timer.")
    return timer


@require_POST
@organization_view(admin_writes=True)
def sla_timer_pause(request, timer_id: int):
    timer = _timer_or_404(timer_id)
    try:
        services.timer_pause(
            timer=timer, actor=request.user, reason=request.POST.get("reason", "")[:500]
        )
    except ValidationError as error:
        messages.error(request, f"Timer not paused: {_errors(error)}")
    else:
        messages.success(request, f"Paused the {timer.get_target_display().lower()} clock.")
    return _back(request, reverse("sla_timers", args=[request.organization.slug]))


@require_POST
@organization_view(admin_writes=True)
def sla_timer_resume(request, timer_id: int):
    timer = _timer_or_404(timer_id)
    try:
        timer = services.timer_resume(timer=timer, actor=request.user)
    except ValidationError as error:
        messages.error(request, f"Timer not resumed: {_errors(error)}")
    else:
        due = timezone.localtime(timer.due_at).strftime("%a %d %b %H:%M")
        messages.success(request, f"Resumed; now due {due}.")
    return _back(request, reverse("sla_timers", args=[request.organization.slug]))


# --- notifications ----------------------------------------------------------------------------


@organization_view
def notification_list(request):
    items = selectors.notifications_for(request.user)
    return render(
        request,
        "sla/notifications.html",
        {
            "notifications": items,
            "unread": sum(1 for item in items if item.read_at is None),
        },
    )


def _own_notification_or_404(request, pk: int) -> Notification:
    # Another member's notification (or another organization's: the manager is scoped) is as
    # absent as a missing one.
    found = Notification.objects.filter(pk=pk, user=request.user).first()
    if found is None:
        raise Http404("No such notification.")
    return found


@organization_view
def notification_open(request, pk: int):
    """Click-through: mark it read and follow its link. A GET on purpose: it is a link, and
    marking one's own notification read twice changes nothing."""
    item = _own_notification_or_404(request, pk)
    services.notification_mark_read(notification=item, user=request.user)
    if item.url.startswith(f"/o/{request.organization.slug}/") and url_has_allowed_host_and_scheme(
        item.url, allowed_hosts={request.get_host()}
    ):
        return redirect(item.url)
    return redirect("notification_list", request.organization.slug)


@require_POST
@organization_view(own_writes=True)
def notification_read(request, pk: int):
    item = _own_notification_or_404(request, pk)
    services.notification_mark_read(notification=item, user=request.user)
    return _back(request, reverse("notification_list", args=[request.organization.slug]))


@require_POST
@organization_view(own_writes=True)
def notifications_read_all(request):
    count = services.notifications_mark_all_read(user=request.user)
    messages.success(request, f"{count} notification{'s' if count != 1 else ''} marked read.")
    return _back(request, reverse("notification_list", args=[request.organization.slug]))


@organization_view
def _bell(request):
    return render(request, "sla/_bell_count.html", {"unread": selectors.unread_count(request.user)})


def notification_bell(request, org_slug: str):
    """The bell's unread count, polled by htmx every 30 s (so ordinary pages add no query)."""
    if not request.user.is_authenticated:
        # Signed out in another tab: 286 tells htmx to stop polling (instead of swapping the
        # login page into the badge).
        return HttpResponse(status=286)
    return _bell(request, org_slug=org_slug)
