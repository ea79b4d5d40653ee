"""Writes for the weekly revenue huddle: opening a week's huddle (and freezing its figures),
action items, notes and the organization's huddle settings.

`now` is frozen once per request by the caller and passed down, so a test controls time the
same way the page does.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from huddle import selectors
from huddle.models import ActionItem, Huddle, HuddleNote, HuddleSettings, ItemStatus, Section, Team
from revops.tenancy.context import current_organization
from revops.tenancy.models import Membership, User

# Figures computed less than this long ago are shown as stored: a room opening the link at once
# computes them once, and a page reload (or an htmx form's fallback) costs one read.
FIGURES_FRESH_FOR = timedelta(minutes=1)
TITLE_MAX = 200
NOTE_MAX = 5000
# Due dates further off than this are typos (a year typed wrong), not plans.
DUE_HORIZON_DAYS = 366


def _bounds(week_start: date) -> tuple[datetime, datetime]:
    return selectors.week_bounds(week_start, current_organization().timezone)


def _require_monday(week_start: date) -> None:
    if week_start.weekday() != 0:
        raise ValidationError({"week": "A huddle's week starts on a Monday."})


def huddle_open(*, week_start: date, now: datetime) -> Huddle | None:
    """The week's huddle as its page shows it.

    - During its week: created if missing, and its figures recomputed and stored: every opening
      refreshes them, unless they are less than FIGURES_FRESH_FOR old.
    - Before its week: the row if items or notes were added ahead, else an unsaved huddle;
      no figures yet.
    - After its week: the row exactly as stored, never recomputed (None if it was never held).
    """
    _require_monday(week_start)
    start, end = _bounds(week_start)
    if now >= end:
        return Huddle.objects.filter(week_start=week_start).first()
    if now < start:
        return Huddle.objects.filter(week_start=week_start).first() or Huddle(week_start=week_start)
    huddle = Huddle.objects.filter(week_start=week_start).first()
    if huddle is not None and _fresh(huddle, now):
        return huddle
    figures = selectors.huddle_figures(week_start=week_start, now=now)
    if huddle is None:
        try:
            with transaction.atomic():
                return Huddle.objects.create(week_start=week_start, figures=figures,
                                             figures_at=now)  # fmt: skip
        except IntegrityError:  # two first openings at once: the other one made the row
            huddle = Huddle.objects.get(week_start=week_start)
    Huddle.objects.filter(pk=huddle.pk).update(figures=figures, figures_at=now, updated_at=now)
    huddle.figures, huddle.figures_at = figures, now
    return huddle


def _fresh(huddle: Huddle, now: datetime) -> bool:
    if huddle.figures_at is None or huddle.figures.get("schema") != selectors.FIGURES_SCHEMA:
        return False
    return timedelta(0) <= now - huddle.figures_at < FIGURES_FRESH_FOR


def huddle_ensure(*, week_start: date) -> Huddle:
    """The week's huddle row, created if missing (two first openings at once make one row)."""
    _require_monday(week_start)
    huddle = Huddle.objects.filter(week_start=week_start).first()
    if huddle is not None:
        return huddle
    try:
        with transaction.atomic():
            return Huddle.objects.create(week_start=week_start)
    except IntegrityError:  # created meanwhile by another request: use that one
        return Huddle.objects.get(week_start=week_start)


def _writable_huddle(*, week_start: date, now: datetime, what: str) -> Huddle:
    """The huddle to add an item to: this week's or a later one; a week that is over is history."""
    _start, end = _bounds(week_start)
    if now >= end:
        raise ValidationError(
            {"week": f"This huddle's week is over; add {what} to the current huddle."}
        )
    return huddle_ensure(week_start=week_start)


# --- action items -----------------------------------------------------------------------------


def _clean_item(*, title: str, owner: User | None, team: str, due_on: date | None,
                today: date) -> str:  # fmt: skip
    title = (title or "").strip()
    errors = {}
    if not title:
        errors["title"] = "Say what is to be done."
    elif len(title) > TITLE_MAX:
        errors["title"] = f"At most {TITLE_MAX} characters."
    if team not in Team.values:
        errors["team"] = "Choose sales, marketing or both teams."
    if owner is not None and not Membership.objects.filter(user=owner).exists():
        errors["owner"] = "Choose a member of this organization."
    horizon = timedelta(days=DUE_HORIZON_DAYS)
    if due_on is not None and not today - horizon <= due_on <= today + horizon:
        errors["due_on"] = "Choose a date within a year of today."
    if errors:
        raise ValidationError(errors)
    return title


def _today(now: datetime) -> date:
    return selectors.local_date(now)


def action_item_create(*, week_start: date, actor: User, title: str, owner: User | None,
                       team: str, due_on: date | None, now: datetime) -> ActionItem:  # fmt: skip
    """A joint activity agreed in the week's huddle; it carries over until done or dropped."""
    title = _clean_item(title=title, owner=owner, team=team, due_on=due_on, today=_today(now))
    huddle = _writable_huddle(week_start=week_start, now=now, what="items")
    return ActionItem.objects.create(
        huddle=huddle, title=title, owner=owner, team=team, due_on=due_on, created_by=actor
    )


def action_item_update(*, item: ActionItem, title: str, owner: User | None, team: str,
                       due_on: date | None, now: datetime) -> ActionItem:  # fmt: skip
    item.title = _clean_item(title=title, owner=owner, team=team, due_on=due_on,
                             today=_today(now))  # fmt: skip
    item.owner, item.team, item.due_on = owner, team, due_on
    item.save(update_fields=["title", "owner", "team", "due_on", "updated_at"])
    return item


def action_item_set_status(*, item: ActionItem, status: str, now: datetime) -> ActionItem:
    """Done, dropped, or open again. Closing records when, so past huddles can tell."""
    if status not in ItemStatus.values:
        raise ValidationError({"status": "Choose open, done or dropped."})
    if status == item.status:
        return item
    item.status = status
    item.closed_at = None if status == ItemStatus.OPEN else now
    item.save(update_fields=["status", "closed_at", "updated_at"])
    return item


# --- notes ------------------------------------------------------------------------------------


def note_add(*, week_start: date, section: str, body: str, author: User,
             now: datetime) -> HuddleNote:  # fmt: skip
    """A plain-text note on one agenda section. A held huddle takes notes after its week too
    (minutes written up later); a week never held has no huddle to note on."""
    body = (body or "").strip()
    errors = {}
    if section not in Section.values:
        errors["section"] = "Choose one of the agenda's sections."
    if not body:
        errors["body"] = "Write the note first."
    elif len(body) > NOTE_MAX:
        errors["body"] = f"At most {NOTE_MAX:,} characters."
    if errors:
        raise ValidationError(errors)
    _require_monday(week_start)
    _start, end = _bounds(week_start)
    if now >= end:
        huddle = Huddle.objects.filter(week_start=week_start).first()
        if huddle is None:
            raise ValidationError({"week": "No huddle was held that week."})
    else:
        huddle = huddle_ensure(week_start=week_start)
    return HuddleNote.objects.create(huddle=huddle, section=section, body=body, author=author)


def note_delete(*, note: HuddleNote, actor: User, is_admin: bool) -> None:
    """Its author, or an admin, removes a note."""
    if note.author_id != actor.pk and not is_admin:
        raise ValidationError({"note": "Only its author or an admin can delete a note."})
    note.delete()


# --- settings ---------------------------------------------------------------------------------


def settings_save(*, stalled_after_days: int, monthly_revenue_target: Decimal | None
                  ) -> HuddleSettings:  # fmt: skip
    errors = {}
    if not isinstance(stalled_after_days, int) or not 1 <= stalled_after_days <= 365:
        errors["stalled_after_days"] = "Between 1 and 365 days."
    if monthly_revenue_target is not None and monthly_revenue_target < 0:
        errors["monthly_revenue_target"] = "A target cannot be negative."
    if errors:
        raise ValidationError(errors)
    settings, _created = HuddleSettings.objects.update_or_create(
        organization=current_organization(),
        defaults={"stalled_after_days": stalled_after_days,
                  "monthly_revenue_target": monthly_revenue_target},
    )  # fmt: skip
    return settings
