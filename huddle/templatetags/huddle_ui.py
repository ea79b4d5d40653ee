"""How the huddle's stored figures read on the screen: "no data" for None, whole numbers without
".0", money in the organization's currency, ratios as percentages, ISO times as local times."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe

register = template.Library()

NO_DATA = "no data"


def _missing(value) -> bool:
    """None in the record, or "" from a template lookup that found nothing."""
    return value is None or value == ""


@register.filter
def num(value, places: int = 0) -> str:
    if _missing(value):
        return NO_DATA
    value = float(value)
    if places == 0 or value == int(value):
        return f"{round(value):,}"
    return f"{value:,.{places}f}"


@register.filter
def money(value, currency: str = "") -> str:
    if _missing(value):
        return NO_DATA
    return f"{float(value):,.0f} {currency}".strip()


@register.filter
def pct(value) -> str:
    """A ratio (0.42) as a percentage (42%)."""
    if _missing(value):
        return NO_DATA
    return f"{100 * float(value):.0f}%"


@register.filter
def percent(value) -> str:
    """A value already in percent (93.5) as text (93.5%)."""
    if _missing(value):
        return NO_DATA
    return f"{float(value):.0f}%" if float(value) in (0.0, 100.0) else f"{float(value):.1f}%"


@register.filter
def ratio_x(value) -> str:
    """A multiple (2.43) with one decimal; the template adds the times sign."""
    return NO_DATA if _missing(value) else f"{float(value):.1f}"


@register.filter
def isotime(value: str | None) -> datetime | None:
    """An ISO date-time of the figures record as a datetime (then localized by |date)."""
    return None if not value else datetime.fromisoformat(value)


@register.filter
def get(mapping, key):
    return (mapping or {}).get(key)


@register.simple_tag
def delta(current, previous, *, unit: str = "percent"):
    """How a figure moved from the week before: +12% (or +3 for counts), "" without a base."""
    if _missing(current) or _missing(previous):
        return ""
    current, previous = float(current), float(previous)
    if unit == "count":
        change = current - previous
        if change == 0:
            return mark_safe('<span class="delta flat">same as the week before</span>')
        direction = "up" if change > 0 else "down"
        return format_html(
            '<span class="delta {}">{} on the week before</span>', direction, f"{change:+,.0f}"
        )
    if previous == 0:
        return ""
    change = (current - previous) / abs(previous)
    direction = "up" if change > 0 else ("down" if change < 0 else "flat")
    return format_html(
        '<span class="delta {}">{}% on the week before</span>', direction, f"{100 * change:+.0f}"
    )
