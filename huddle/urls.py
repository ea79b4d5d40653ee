"""The weekly revenue huddle: /o/<slug>/huddle/ is this week's, /o/<slug>/huddle/YYYY-MM-DD/ any
week's (a date other than a Monday names its week)."""

from django.urls import path, register_converter

from huddle import views


class WeekConverter:
    """Anything shaped like a date; the view validates it (a bad date is a 400 naming the field,
    not a 404)."""

    regex = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value) -> str:
        return str(value)


register_converter(WeekConverter, "week")

HUDDLE = "o/<slug:org_slug>/huddle/"
WEEK = f"{HUDDLE}<week:week>/"

urlpatterns = [
    path(HUDDLE, views.huddle_current, name="huddle_current"),
    path(f"{HUDDLE}history/", views.huddle_history, name="huddle_history"),
    path(f"{HUDDLE}settings/", views.huddle_settings, name="huddle_settings"),
    path(WEEK, views.huddle_week, name="huddle_week"),
    path(f"{WEEK}<slug:chart>.csv", views.huddle_chart_csv, name="huddle_chart_csv"),
    path(f"{WEEK}items/", views.item_add, name="huddle_item_add"),
    path(f"{WEEK}items/<int:item_id>/", views.item_edit, name="huddle_item_edit"),
    path(f"{WEEK}items/<int:item_id>/status/", views.item_status, name="huddle_item_status"),
    path(f"{WEEK}notes/", views.note_add, name="huddle_note_add"),
    path(f"{WEEK}notes/<int:note_id>/delete/", views.note_delete, name="huddle_note_delete"),
]
