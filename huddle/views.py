"""The weekly revenue huddle's pages: this week's huddle, any week's, the history, each chart's
CSV, and the action items and notes written during the meeting (htmx or plain forms).

Views translate: forms parse, `services.huddle_open` decides what the page shows (and freezes
the figures), selectors read. `now` is frozen once per request.
"""

from __future__ import annotations

import functools
from datetime import date, datetime, timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from huddle import charts, selectors, services
from huddle.forms import ActionItemForm, NoteForm, SettingsForm, StatusForm, WeekForm
from huddle.models import ActionItem, Huddle, HuddleNote, ItemStatus, Section
from revops.tenancy.access import organization_view

HISTORY_PER_PAGE = 26


# --- helpers ----------------------------------------------------------------------------------


def week_view(view):
    """The URL's week parsed into a date for the view; a bad one answers 400 naming the field."""

    @functools.wraps(view)
    def parsed(request, week: str, *args, **kwargs):
        form = WeekForm({"week": week})
        if not form.is_valid():
            return render(request, "huddle/bad_week.html", {"form": form}, status=400)
        return view(request, form.cleaned_data["week"], *args, **kwargs)

    return parsed


def _add_errors(form, error: ValidationError) -> None:
    """A service's field errors onto the form (unknown fields become non-field errors)."""
    for field, messages_ in error.message_dict.items():
        form.add_error(field if field in form.fields else None, messages_)


def _week_url(request, week_start: date, anchor: str = "") -> str:
    """The week's huddle page; its forms and exports are addressed below it (huddle/urls.py), so
    templates build those from this one path instead of reversing each (dozens per page)."""
    url = reverse("huddle_week", args=[request.organization.slug, week_start.isoformat()])
    return f"{url}#{anchor}" if anchor else url


def _item_or_404(item_id: int) -> ActionItem:
    item = ActionItem.objects.filter(pk=item_id).select_related("huddle").first()
    if item is None:
        raise Http404("No such action item.")
    return item


def _is_past(request, week_start: date, now: datetime) -> bool:
    return now >= selectors.week_bounds(week_start, request.organization.timezone)[1]


# --- the huddle page --------------------------------------------------------------------------


@organization_view
@require_safe
def huddle_current(request):
    """This week's huddle (weeks start on Monday in the organization's time zone)."""
    today = timezone.localdate()
    return redirect(_week_url(request, selectors.week_start_of(today)))


def _actions_context(request, week_start: date, now: datetime, *, item_form=None,
                     edit_forms=None) -> dict:  # fmt: skip
    members = selectors.members()
    people = list(members)  # read once: every owner menu on the page lists them
    past = _is_past(request, week_start, now)
    may_edit = request.membership.can_write and not past
    edit_forms = edit_forms or {}
    rows = []
    for shown in selectors.action_items(week_start=week_start, now=now):
        item = shown.item
        form = None
        if may_edit:  # a week that is over shows its items as they stood, without forms
            form = edit_forms.get(item.pk) or ActionItemForm(
                prefix=f"item-{item.pk}", members=members,
                initial={"title": item.title, "owner": item.owner_id, "team": item.team,
                         "due_on": item.due_on},
            )  # fmt: skip
        rows.append({"shown": shown, "form": form})
    return {
        "week_start": week_start,
        "week_path": _week_url(request, week_start),
        "today": timezone.localdate(now),
        "item_rows": rows,
        "item_form": item_form or ActionItemForm(members=members),
        "members": people,
        "may_add_items": may_edit,
        "may_edit_items": may_edit,
        "week_over": past,
    }


def _notes_context(request, huddle, week_start: date, now: datetime, *, note_forms=None) -> dict:
    notes = selectors.notes_by_section(huddle)
    note_forms = note_forms or {}
    held = huddle is not None and huddle.pk is not None
    return {
        "week_path": _week_url(request, week_start),
        "notes": notes,
        "note_forms": {
            section: note_forms.get(section) or NoteForm(initial={"section": section})
            for section in Section.values
        },
        "may_note": request.membership.can_write
        and (held or not _is_past(request, week_start, now)),
        "may_write_notes": request.membership.can_write,
        "may_delete_any_note": request.membership.is_admin,
    }


def _page(request, week_start: date, huddle, now: datetime, *, status: int = 200,
          **forms) -> HttpResponse:  # fmt: skip
    start, end = selectors.week_bounds(week_start, request.organization.timezone)
    figures = huddle.figures if huddle is not None else {}
    chart_list = []
    for name, (section, title, _header) in charts.CHARTS.items():
        figure = charts.chart_figure(figures, name) if figures else None
        chart_list.append(
            {
                "name": name,
                "section": section,
                "title": title,
                "figure": figure,
                "element_id": f"chart-{name}",
                "data_id": f"chart-{name}-data",
            }
        )
    context = {
        "huddle": huddle,
        "week_start": week_start,
        "week_last_day": week_start + timedelta(days=6),
        "previous_week": week_start - timedelta(days=7),
        "next_week": week_start + timedelta(days=7),
        "current_week": selectors.week_start_of(timezone.localdate(now)),
        "state": "future" if now < start else ("past" if now >= end else "current"),
        "figures": figures,
        "charts": {chart["name"]: chart for chart in chart_list},
        "sections": Section.choices,
        **_actions_context(request, week_start, now, item_form=forms.get("item_form"),
                           edit_forms=forms.get("edit_forms")),
        **_notes_context(request, huddle, week_start, now, note_forms=forms.get("note_forms")),
    }  # fmt: skip
    return render(request, "huddle/huddle.html", context, status=status)


@organization_view
@require_safe
@week_view
def huddle_week(request, week_start: date):
    if week_start.weekday() != 0:  # any day names its week
        return redirect(_week_url(request, selectors.week_start_of(week_start)))
    now = timezone.now()
    huddle = services.huddle_open(week_start=week_start, now=now)
    if huddle is None:
        return render(request, "huddle/not_held.html",
                      {"week_start": week_start, "week_last_day": week_start + timedelta(days=6),
                       "current_week": selectors.week_start_of(timezone.localdate(now))},
                      status=404)  # fmt: skip
    return _page(request, week_start, huddle, now)


@organization_view
@require_safe
@week_view
def huddle_chart_csv(request, week_start: date, chart: str):
    """A chart's data as the huddle shows it: from the stored figures, never recomputed."""
    if chart not in charts.CHARTS:
        raise Http404("No such chart.")
    huddle = Huddle.objects.filter(week_start=week_start).first()
    if huddle is None or not huddle.figures:
        raise Http404("This huddle has no figures.")
    response = HttpResponse(charts.chart_csv(huddle.figures, chart),
                            content_type="text/csv; charset=utf-8")  # fmt: skip
    filename = f"huddle-{week_start.isoformat()}-{chart}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _history_page(request, *, settings_form=None, status=200) -> HttpResponse:
    page = Paginator(selectors.history(), HISTORY_PER_PAGE).get_page(request.GET.get("page"))
    settings = selectors.huddle_settings()
    return render(
        request,
        "huddle/history.html",
        {
            "page": page,
            "current_week": selectors.week_start_of(timezone.localdate()),
            "settings": settings,
            "settings_form": settings_form
            or SettingsForm(
                initial={
                    "stalled_after_days": settings.stalled_after_days,
                    "monthly_revenue_target": settings.monthly_revenue_target,
                }
            ),
            "may_configure": request.membership.is_admin,
        },
        status=status,
    )


@organization_view
@require_safe
def huddle_history(request):
    return _history_page(request)


@organization_view(admin_writes=True)
@require_POST
def huddle_settings(request):
    form = SettingsForm(request.POST)
    if form.is_valid():
        try:
            services.settings_save(**form.cleaned_data)
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, "Huddle settings saved; they apply from the next refresh.")
            return redirect("huddle_history", org_slug=request.organization.slug)
    return _history_page(request, settings_form=form, status=400)


# --- action items -----------------------------------------------------------------------------


def _actions_response(request, week_start: date, now: datetime, *, status: int = 200,
                      **forms) -> HttpResponse:  # fmt: skip
    """htmx: the agenda's last section re-rendered; a plain form post: back to the page."""
    if request.htmx:
        context = _actions_context(request, week_start, now, **forms)
        return render(request, "huddle/_actions.html", context, status=status)
    if status == 200:
        return redirect(_week_url(request, week_start, "actions"))
    # The whole page again, with the form's errors: as this week's page would show it.
    huddle = services.huddle_open(week_start=week_start, now=now)
    return _page(request, week_start, huddle, now, status=status, **forms)


@organization_view
@require_POST
@week_view
def item_add(request, week_start: date):
    now = timezone.now()
    form = ActionItemForm(request.POST, members=selectors.members())
    if form.is_valid():
        try:
            services.action_item_create(week_start=week_start, actor=request.user, now=now,
                                        **form.cleaned_data)  # fmt: skip
        except ValidationError as error:
            _add_errors(form, error)
        else:
            if not request.htmx:
                messages.success(request, "Action item added.")
            return _actions_response(request, week_start, now)
    return _actions_response(request, week_start, now, status=400, item_form=form)


@organization_view
@require_POST
@week_view
def item_edit(request, week_start: date, item_id: int):
    item = _item_or_404(item_id)
    now = timezone.now()
    form = ActionItemForm(request.POST, members=selectors.members(), prefix=f"item-{item.pk}")
    if form.is_valid():
        try:
            services.action_item_update(item=item, now=now, **form.cleaned_data)
        except ValidationError as error:
            _add_errors(form, error)
        else:
            return _actions_response(request, week_start, now)
    return _actions_response(request, week_start, now, status=400, edit_forms={item.pk: form})


@organization_view
@require_POST
@week_view
def item_status(request, week_start: date, item_id: int):
    item = _item_or_404(item_id)
    now = timezone.now()
    form = StatusForm(request.POST)
    if not form.is_valid():
        if request.htmx:
            return HttpResponse(" ".join(form.errors["status"]), status=400)
        messages.error(request, "Choose open, done or dropped.")
        return redirect(_week_url(request, week_start, "actions"))
    services.action_item_set_status(item=item, status=form.cleaned_data["status"], now=now)
    if not request.htmx:
        messages.success(request, f"“{item.title}” is {ItemStatus(item.status).label.lower()}.")
    return _actions_response(request, week_start, now)


# --- notes ------------------------------------------------------------------------------------


def _notes_response(request, week_start: date, section: str, now: datetime, *,
                    status: int = 200, form=None) -> HttpResponse:  # fmt: skip
    huddle = Huddle.objects.filter(week_start=week_start).first()
    if request.htmx:
        context = _notes_context(request, huddle, week_start, now,
                                 note_forms={section: form} if form else None)  # fmt: skip
        return render(request, "huddle/_notes.html",
                      {**context, "section": section, "week_start": week_start},
                      status=status)  # fmt: skip
    if status == 200:
        return redirect(_week_url(request, week_start, section))
    huddle = services.huddle_open(week_start=week_start, now=now)
    return _page(request, week_start, huddle, now, status=status, note_forms={section: form})


@organization_view
@require_POST
@week_view
def note_add(request, week_start: date):
    now = timezone.now()
    form = NoteForm(request.POST)
    section = request.POST.get("section", "")
    if section not in Section.values:
        return HttpResponse("section: Choose one of the agenda's sections.", status=400,
                            content_type="text/plain")  # fmt: skip
    if form.is_valid():
        try:
            services.note_add(week_start=week_start, author=request.user, now=now,
                              **form.cleaned_data)  # fmt: skip
        except ValidationError as error:
            _add_errors(form, error)
        else:
            return _notes_response(request, week_start, section, now)
    return _notes_response(request, week_start, section, now, status=400, form=form)


@organization_view
@require_POST
@week_view
def note_delete(request, week_start: date, note_id: int):
    note = HuddleNote.objects.filter(pk=note_id).first()
    if note is None:
        raise Http404("No such note.")
    now = timezone.now()
    try:
        services.note_delete(note=note, actor=request.user, is_admin=request.membership.is_admin)
    except ValidationError as error:
        if request.htmx:
            return HttpResponse(" ".join(error.messages), status=403)
        messages.error(request, " ".join(error.messages))
    return _notes_response(request, week_start, note.section, now)
