"""Forms of the huddle pages: they parse what a person sent; services decide and write."""

from django import forms

from huddle.models import ItemStatus, Section, Team
from huddle.services import NOTE_MAX, TITLE_MAX


class WeekForm(forms.Form):
    """The week in a huddle's URL (YYYY-MM-DD): a bad date is a 400 naming the field."""

    week = forms.DateField(input_formats=["%Y-%m-%d"])

    def clean_week(self):
        week = self.cleaned_data["week"]
        if not 2000 <= week.year <= 2100:
            raise forms.ValidationError("Choose a week between 2000 and 2100.")
        return week


class ActionItemForm(forms.Form):
    title = forms.CharField(max_length=TITLE_MAX, label="What")
    owner = forms.ModelChoiceField(queryset=None, required=False, empty_label="Nobody yet")
    team = forms.ChoiceField(choices=Team.choices, initial=Team.JOINT)
    due_on = forms.DateField(
        required=False, label="Due", widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, members, **kwargs):
        super().__init__(*args, **kwargs)
        # Only this organization's people: another tenant's user id is "not one of the choices".
        self.fields["owner"].queryset = members
        self.fields["owner"].label_from_instance = lambda user: user.display_name


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=ItemStatus.choices)


class NoteForm(forms.Form):
    section = forms.ChoiceField(choices=Section.choices, widget=forms.HiddenInput)
    body = forms.CharField(
        max_length=NOTE_MAX, label="Note",
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Add a note for this section"}),
    )  # fmt: skip


class SettingsForm(forms.Form):
    stalled_after_days = forms.IntegerField(
        min_value=1, max_value=365, label="A deal is stalled after (days)"
    )
    monthly_revenue_target = forms.DecimalField(
        required=False, min_value=0, max_digits=14, decimal_places=2,
        label="Monthly revenue target",
        help_text="Pipeline coverage and the forecast are read against it; empty: no target.",
    )  # fmt: skip
