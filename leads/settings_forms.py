"""Forms of the lead settings page. They parse types and offer choices; `leads.config_services`
decides what is valid (so the page, the services' tests and any later caller agree).

Django marks a field with errors `aria-invalid` and points `aria-describedby` at "<id>_error";
the templates give the error text that id.
"""

from django import forms
from django.forms.utils import pretty_name

from leads.models import EngagementKind, FitAttribute

# The one table row being edited: its inputs sit in table cells and join the row's <form> by id.
ROW_FORM_ID = "row-edit"
ROW_PREFIX = "edit"


def _blank_first(choices, blank: str) -> list:
    return [("", blank), *choices]


class RowFormMixin:
    """A form rendered across a table row: inputs carry `form=` and an accessible name."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("prefix", ROW_PREFIX)
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            label = field.label or pretty_name(name)
            field.widget.attrs.update({"form": ROW_FORM_ID, "aria-label": label})


# --- scoring rules ----------------------------------------------------------------------------


class FitRuleForm(forms.Form):
    attribute = forms.ChoiceField(
        required=False, choices=_blank_first(FitAttribute.choices, "Choose an attribute")
    )
    value = forms.CharField(required=False, max_length=100, label="Matches")
    points = forms.IntegerField(label="Points")


class EngagementRuleForm(forms.Form):
    event_kind = forms.ChoiceField(
        required=False,
        label="Event",
        choices=_blank_first(EngagementKind.choices, "Choose an event"),
    )
    points = forms.IntegerField(label="Points")
    half_life_days = forms.IntegerField(label="Half-life (days)", initial=30)


class ScoringRuleEditForm(RowFormMixin, forms.Form):
    value = forms.CharField(required=False, max_length=100, label="Matches")
    points = forms.IntegerField(label="Points")
    half_life_days = forms.IntegerField(required=False, label="Half-life (days)")


class ActiveForm(forms.Form):
    """The state a toggle asks for, stated rather than flipped: a double submit changes nothing."""

    active = forms.TypedChoiceField(choices=[("1", "on"), ("0", "off")], coerce=lambda v: v == "1")


# --- sales reps -------------------------------------------------------------------------------


MANAGER_INVALID = "Choose an active member of this organization as the manager."


def _manager_field() -> forms.TypedChoiceField:
    return forms.TypedChoiceField(
        coerce=int,
        required=False,
        empty_value=None,
        label="Manager",
        error_messages={"invalid_choice": MANAGER_INVALID},
    )


def _manager_choices(managers) -> list:
    """Any active member may manage a rep (a sales lead, an admin); none is a choice too."""
    return _blank_first(
        [(m.user_id, f"{m.user.display_name} ({m.user.email})") for m in managers], "No manager"
    )


class SalesRepFormMixin:
    def service_values(self) -> dict:
        data = dict(self.cleaned_data)
        data["manager_id"] = data.pop("manager")
        return data


class SalesRepAddForm(SalesRepFormMixin, forms.Form):
    user = forms.TypedChoiceField(
        coerce=int,
        label="Sales member",
        error_messages={
            "required": "Choose a sales member.",
            "invalid_choice": "Choose a sales member of this organization who is not a rep yet.",
        },
    )
    capacity = forms.IntegerField(required=False, label="Capacity (open SQLs)")
    territory = forms.CharField(required=False, max_length=100)
    team = forms.CharField(required=False, max_length=100)
    manager = _manager_field()
    accepting_leads = forms.BooleanField(required=False, initial=True, label="Takes new leads")

    def __init__(self, *args, members, managers, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].choices = _blank_first(
            [(m.user_id, f"{m.user.display_name} ({m.user.email})") for m in members],
            "Choose a member",
        )
        self.fields["manager"].choices = _manager_choices(managers)

    def service_values(self) -> dict:
        data = super().service_values()
        data["user_id"] = data.pop("user")
        return data


class SalesRepEditForm(SalesRepFormMixin, RowFormMixin, forms.Form):
    capacity = forms.IntegerField(required=False, label="Capacity (open SQLs)")
    territory = forms.CharField(required=False, max_length=100)
    team = forms.CharField(required=False, max_length=100)
    manager = _manager_field()

    def __init__(self, *args, rep, managers, **kwargs):
        super().__init__(*args, **kwargs)
        # A rep is not offered as their own manager (the service refuses it anyway).
        self.fields["manager"].choices = _manager_choices(
            m for m in managers if m.user_id != rep.user_id
        )


# --- assignment rules -------------------------------------------------------------------------


class AssignmentRuleForm(forms.Form):
    priority = forms.IntegerField(initial=100)
    industry = forms.CharField(required=False, max_length=100)
    company_size_min = forms.IntegerField(required=False, label="Size from")
    company_size_max = forms.IntegerField(required=False, label="Size up to")
    territory = forms.CharField(required=False, max_length=100)
    rep = forms.TypedChoiceField(
        coerce=int,
        label="Rep",
        error_messages={
            "required": "Choose the rep who gets matching leads.",
            "invalid_choice": "Choose one of this organization's sales reps.",
        },
    )

    def __init__(self, *args, reps, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["rep"].choices = _blank_first(
            [(rep.pk, rep.user.display_name) for rep in reps], "Choose a rep"
        )

    def service_values(self) -> dict:
        data = dict(self.cleaned_data)
        data["rep_id"] = data.pop("rep")
        return data


class AssignmentRuleEditForm(RowFormMixin, AssignmentRuleForm):
    pass


# --- reason lists -----------------------------------------------------------------------------


class ReasonForm(forms.Form):
    label = forms.CharField(
        required=False, max_length=100, widget=forms.TextInput(attrs={"placeholder": "New reason"})
    )
