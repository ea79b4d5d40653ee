"""The metric input pages, under /o/<slug>/metrics/inputs/: marketing spend, sales cost, the
gross margin, and recomputing the snapshot.

Who sees what (as in the API, `metrics/api.py`): every member reads the spend, RevOps admins and
marketing add, import and delete it; sales cost (a rep's row is their pay), the gross margin and
recomputes are for admins alone.

Views translate: forms parse, `metrics.services` validates and writes. A write that succeeds
redirects back (a reload cannot repeat it); a refused one re-renders the page with status 400,
the error beside its field and nothing saved. A CSV import is all or nothing: a file with bad
lines is listed line by line with the reason, and the fixed file is simply uploaded again.
"""

from __future__ import annotations

import io
from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.formats import number_format
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from leads.api import MARKETING_ROLES
from metrics import services
from metrics.api import MAX_CSV_BYTES, TOO_LARGE, csv_upload_text
from metrics.forms import (
    CsvUploadForm,
    GrossMarginForm,
    MarketingSpendForm,
    RecomputeForm,
    SalesCostForm,
)
from metrics.models import MarketingSpend, MetricRun, MetricsSettings, RunStatus, SalesCost
from revops.tenancy.access import organization_view

PAGE_SIZE = 50
LINE_SHOWN = 200  # characters of a refused line shown beside its reason
RECENT_RUNS = 20
# The recompute form's default range: the last quarter, through today.
DEFAULT_RECOMPUTE_DAYS = 90
ACTIVE = (RunStatus.PENDING, RunStatus.RUNNING)

SPEND_COLUMNS = {
    "required": ["date", "channel", "amount"],
    "optional": ["currency", "campaign", "note"],
    "example": "date,channel,amount,campaign,note\n"
    "2026-11-02,paid_search,1200.50,Winter webinar,Google Ads\n"
    "2026-11-03,social,300,,LinkedIn",
    "notes": "Dates as YYYY-MM-DD; a campaign by its name; the channel as its code (below).",
}
COST_COLUMNS = {
    "required": ["period_start", "period_end", "category", "amount"],
    "optional": ["currency", "team", "rep_email", "note"],
    "example": "period_start,period_end,category,amount,team,rep_email\n"
    "2026-11-01,2026-11-30,salary,42000,Field sales,\n"
    "2026-11-01,2026-11-30,commission,3100.25,,sam@example.com",
    "notes": "Periods inclusive, as YYYY-MM-DD; category is salary, commission, tools or other; "
    "a rep by their email, and a team by any name.",
}


def _row_or_404(queryset, pk: int):
    # Scoped managers: another organization's row is exactly as absent as a missing one.
    row = queryset.filter(pk=pk).first()
    if row is None:
        raise Http404("No such row.")
    return row


def _add_errors(form, error: ValidationError) -> None:
    """Put a service's field errors on the form's fields (or on the form when it has none)."""
    for field, texts in getattr(error, "message_dict", {"__all__": error.messages}).items():
        form.add_error(field if field in form.fields else None, texts)


def _focus_first_error(form) -> None:
    """Open the refused page at the field to fix (the browser scrolls to an autofocus input)."""
    name = next((name for name in form.errors if name in form.fields), None)
    if name is not None:
        form.fields[name].widget.attrs["autofocus"] = True


def _money(amount) -> str:
    return number_format(amount, decimal_pos=2, force_grouping=True)


def _percent(value) -> str:
    """72.50 → "72.5", 70.00 → "70"."""
    return f"{value.normalize():f}"


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


# --- CSV uploads ------------------------------------------------------------------------------


class CsvOutcome:
    """What an upload came to: imported (a count) or refused (line errors, or a file error on
    the form)."""

    def __init__(self, form: CsvUploadForm):
        self.form = form
        self.saved = 0
        self.line_errors: list[dict] = []
        self.filename = ""

    @property
    def ok(self) -> bool:
        return self.form.is_bound and not self.form.errors and not self.line_errors

    @property
    def refused(self) -> bool:
        return self.form.is_bound and not self.ok


def _with_text(errors: list[dict], text: str) -> list[dict]:
    """Each refused line with what it says, so people see the line they must fix. The lines
    are split exactly as the importer's csv reader reads them."""
    lines = io.StringIO(text.lstrip("\ufeff")).readlines()
    return [
        {**error, "text": lines[error["line"] - 1].rstrip("\r\n")[:LINE_SHOWN]}
        if 0 < error["line"] <= len(lines)
        else error
        for error in errors
    ]


def _csv_upload(request, importer) -> CsvOutcome:
    form = CsvUploadForm(request.POST, request.FILES)
    outcome = CsvOutcome(form)
    if not form.is_valid():
        return outcome
    upload = form.cleaned_data["file"]
    outcome.filename = upload.name
    try:
        if upload.size > MAX_CSV_BYTES:
            raise ValidationError({"file": TOO_LARGE})
        text = csv_upload_text(upload.read())
        result = importer(text)
    except ValidationError as error:
        _add_errors(form, error)
    else:
        outcome.saved, outcome.line_errors = result.saved, _with_text(result.errors, text)
    if outcome.refused:
        # The browser scrolls to the upload: the reasons are listed under it.
        form.fields["file"].widget.attrs["autofocus"] = True
    return outcome


def _tabs(request, tab: str) -> dict:
    return {"tab": tab, "is_admin": request.membership.is_admin}


# --- marketing spend --------------------------------------------------------------------------


def _may_edit_spend(request) -> bool:
    return request.membership.role in MARKETING_ROLES


def _require_spend_writer(request) -> None:
    if not _may_edit_spend(request):
        raise PermissionDenied("Only RevOps admins and marketing change marketing spend.")


def _spend_page(request, *, form=None, upload=None, status=200):
    rows = MarketingSpend.objects.select_related("campaign")
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    form = form or MarketingSpendForm(initial={"spent_on": timezone.localdate()})
    if form.is_bound and form.errors:
        _focus_first_error(form)
    return render(
        request,
        "metrics/inputs_spend.html",
        {
            **_tabs(request, "spend"),
            "page": page,
            "may_edit": _may_edit_spend(request),
            "form": form,
            "upload": upload or CsvOutcome(CsvUploadForm()),
            "columns": SPEND_COLUMNS,
            "channels": MarketingSpend._meta.get_field("channel").choices,
        },
        status=status,
    )


@organization_view
@require_safe
def spend_list(request):
    return _spend_page(request)


@organization_view
@require_POST
def spend_add(request):
    _require_spend_writer(request)
    form = MarketingSpendForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            spend = services.marketing_spend_record(
                spent_on=data["spent_on"], channel=data["channel"], amount=data["amount"],
                campaign=data["campaign"], note=data["note"],
            )  # fmt: skip
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(
                request,
                f"Spend of {_money(spend.amount)} {spend.currency} on "
                f"{spend.spent_on:%-d %b %Y} ({spend.get_channel_display()}) added.",
            )
            return redirect("metrics_spend", org_slug=request.organization.slug)
    return _spend_page(request, form=form, status=400)


@organization_view
@require_POST
def spend_import(request):
    _require_spend_writer(request)
    outcome = _csv_upload(request, services.marketing_spend_import_csv)
    if outcome.ok:
        messages.success(
            request,
            f"{_plural(outcome.saved, 'row')} of spend imported from “{outcome.filename}”.",
        )
        return redirect("metrics_spend", org_slug=request.organization.slug)
    return _spend_page(request, upload=outcome, status=400)


@organization_view
@require_POST
def spend_delete(request, spend_id: int):
    _require_spend_writer(request)
    spend = _row_or_404(MarketingSpend.objects, spend_id)
    services.marketing_spend_delete(spend=spend)
    messages.success(
        request,
        f"Spend of {_money(spend.amount)} {spend.currency} on {spend.spent_on:%-d %b %Y} deleted.",
    )
    return redirect("metrics_spend", org_slug=request.organization.slug)


# --- sales cost -------------------------------------------------------------------------------


def _cost_page(request, *, form=None, upload=None, status=200):
    rows = SalesCost.objects.select_related("rep")
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    form = form or SalesCostForm()
    if form.is_bound and form.errors:
        _focus_first_error(form)
    return render(
        request,
        "metrics/inputs_costs.html",
        {
            **_tabs(request, "costs"),
            "page": page,
            "may_edit": True,
            "form": form,
            "upload": upload or CsvOutcome(CsvUploadForm()),
            "columns": COST_COLUMNS,
        },
        status=status,
    )


@organization_view(admin_writes=True, admin_reads=True)
@require_safe
def cost_list(request):
    return _cost_page(request)


@organization_view(admin_writes=True, admin_reads=True)
@require_POST
def cost_add(request):
    form = SalesCostForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            cost = services.sales_cost_record(
                period_start=data["period_start"], period_end=data["period_end"],
                category=data["category"], amount=data["amount"], team=data["team"],
                rep=data["rep"], note=data["note"],
            )  # fmt: skip
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(
                request,
                f"{cost.get_category_display()} of {_money(cost.amount)} {cost.currency} for "
                f"{cost.period_start:%-d %b %Y} to {cost.period_end:%-d %b %Y} added.",
            )
            return redirect("metrics_costs", org_slug=request.organization.slug)
    return _cost_page(request, form=form, status=400)


@organization_view(admin_writes=True, admin_reads=True)
@require_POST
def cost_import(request):
    outcome = _csv_upload(request, services.sales_cost_import_csv)
    if outcome.ok:
        messages.success(
            request,
            f"{_plural(outcome.saved, 'row')} of sales cost imported from “{outcome.filename}”.",
        )
        return redirect("metrics_costs", org_slug=request.organization.slug)
    return _cost_page(request, upload=outcome, status=400)


@organization_view(admin_writes=True, admin_reads=True)
@require_POST
def cost_delete(request, cost_id: int):
    cost = _row_or_404(SalesCost.objects, cost_id)
    services.sales_cost_delete(cost=cost)
    messages.success(
        request,
        f"{cost.get_category_display()} of {_money(cost.amount)} {cost.currency} for "
        f"{cost.period_start:%-d %b %Y} to {cost.period_end:%-d %b %Y} deleted.",
    )
    return redirect("metrics_costs", org_slug=request.organization.slug)


# --- gross margin -----------------------------------------------------------------------------


@organization_view(admin_writes=True, admin_reads=True)
@require_http_methods(["GET", "HEAD", "POST"])
def gross_margin(request):
    current = MetricsSettings.objects.first()
    percent = current.gross_margin_percent if current else None
    shown = None if percent is None else _percent(percent)
    status = 200
    if request.method == "POST":
        form = GrossMarginForm(request.POST)
        if form.is_valid():
            try:
                saved = services.gross_margin_set(percent=form.cleaned_data["gross_margin_percent"])
            except ValidationError as error:
                _add_errors(form, error)
            else:
                value = saved.gross_margin_percent
                messages.success(
                    request,
                    f"Gross margin set to {_percent(value)}%." if value is not None
                    else "Gross margin cleared: CLV shows no data until it is set.",
                )  # fmt: skip
                return redirect("metrics_gross_margin", org_slug=request.organization.slug)
        status = 400
        _focus_first_error(form)
    else:
        form = GrossMarginForm(initial={"gross_margin_percent": shown})
    return render(
        request,
        "metrics/inputs_margin.html",
        {**_tabs(request, "margin"), "form": form, "percent": shown},
        status=status,
    )


# --- recompute --------------------------------------------------------------------------------


def _duration_words(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


def _recent_runs() -> list[MetricRun]:
    now = timezone.now()
    runs = list(MetricRun.objects.select_related("requested_by")[:RECENT_RUNS])
    for run in runs:
        if run.started_at and run.finished_at:
            run.duration = _duration_words((run.finished_at - run.started_at).total_seconds())
        elif run.started_at:
            run.duration = f"{_duration_words((now - run.started_at).total_seconds())} so far"
        else:
            run.duration = ""
    return runs


def _runs_context() -> dict:
    runs = _recent_runs()
    return {"runs": runs, "polling": any(run.status in ACTIVE for run in runs)}


@organization_view(admin_writes=True, admin_reads=True)
@require_http_methods(["GET", "HEAD", "POST"])
def recompute(request):
    status = 200
    if request.method == "POST":
        form = RecomputeForm(request.POST)
        if form.is_valid():
            try:
                run = services.metric_run_request(
                    actor=request.user,
                    first_day=form.cleaned_data["first_day"],
                    last_day=form.cleaned_data["last_day"],
                )
            except ValidationError as error:
                _add_errors(form, error)
            else:
                messages.success(
                    request,
                    f"Recomputing {run.first_day:%-d %b %Y} to {run.last_day:%-d %b %Y}: "
                    "its status shows below.",
                )
                return redirect("metrics_recompute", org_slug=request.organization.slug)
        status = 400
        _focus_first_error(form)
    else:
        today = timezone.localdate()
        form = RecomputeForm(
            initial={
                "first_day": today - timedelta(days=DEFAULT_RECOMPUTE_DAYS),
                "last_day": today,
            }
        )
    return render(
        request,
        "metrics/inputs_recompute.html",
        {**_tabs(request, "recompute"), "form": form, **_runs_context()},
        status=status,
    )


@organization_view(admin_reads=True)
@require_safe
def recompute_runs(request):
    """The runs table alone: htmx polls it while a run waits or computes."""
    return render(request, "metrics/_runs.html", _runs_context())
