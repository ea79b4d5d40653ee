"""Forms of the metrics pages. The input forms parse types and offer choices;
`metrics.services` decides what is valid (the currency, a period's order, a campaign of this
organization), so the pages, the API and CSV imports agree. `RangeFilterForm` is the date range
and lead filters that the dashboard and the journey map read from the query string.

Choices that come from the organization's rows (campaigns, members) are built inside the
request's organization scope: in `__init__`, or by `filter_choices()` for the range filters.
"""

from collections.abc import Iterable, Mapping
from datetime import date, timedelta

from django import forms
from django.core.exceptions import ValidationError

from leads.models import Campaign, SalesRep, SourceChannel, Stage
from metrics.compute import Filters
from metrics.models import MetricFact, SalesCostCategory
from revops.tenancy import selectors as tenancy_selectors
from revops.tenancy.models import User


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", **kwargs)


def _amount() -> forms.DecimalField:
    return forms.DecimalField(
        max_digits=14, decimal_places=2, min_value=0, label="Amount",
        widget=forms.NumberInput(attrs={"step": "0.01", "min": "0", "inputmode": "decimal"}),
    )  # fmt: skip


class MarketingSpendForm(forms.Form):
    spent_on = forms.DateField(label="Date", widget=DateInput())
    campaign = forms.ModelChoiceField(queryset=None, required=False, empty_label="No campaign")
    channel = forms.ChoiceField(
        required=False, choices=[("", "The campaign's channel"), *SourceChannel.choices]
    )
    amount = _amount()
    note = forms.CharField(required=False, max_length=300, label="Note")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["campaign"].queryset = Campaign.objects.order_by("name")


class SalesCostForm(forms.Form):
    period_start = forms.DateField(label="From", widget=DateInput())
    period_end = forms.DateField(label="To (inclusive)", widget=DateInput())
    category = forms.ChoiceField(choices=[("", "Choose a category"), *SalesCostCategory.choices])
    team = forms.CharField(required=False, max_length=100, label="Team")
    rep = forms.ModelChoiceField(queryset=None, required=False, empty_label="No one rep")
    amount = _amount()
    note = forms.CharField(required=False, max_length=300, label="Note")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Users are global; membership rows (a scoped manager) confine them to this one.
        members = tenancy_selectors.organization_members().values("user_id")
        rep = self.fields["rep"]
        rep.queryset = User.objects.filter(pk__in=members).order_by("full_name", "email")
        rep.label_from_instance = lambda user: user.display_name


class CsvUploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file", widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"})
    )


class GrossMarginForm(forms.Form):
    gross_margin_percent = forms.DecimalField(
        required=False, max_digits=5, decimal_places=2, min_value=0, max_value=100,
        label="Gross margin (%)",
        help_text="Revenue minus the cost of delivering it, as a share of revenue. Leave empty "
        "if unknown: CLV then shows no data.",
        widget=forms.NumberInput(attrs={"step": "0.01", "min": "0", "max": "100"}),
    )  # fmt: skip


class RecomputeForm(forms.Form):
    first_day = forms.DateField(label="From", widget=DateInput())
    last_day = forms.DateField(label="To (inclusive)", widget=DateInput())


# --- the range and filters of the report pages (dashboard, journey map) ----------------------

RANGE_PRESETS = {"30": 30, "90": 90, "365": 365}  # days, ending yesterday
DEFAULT_RANGE = "30"
MAX_RANGE_DAYS = 731  # two years
FILTER_NAMES = ("channel", "campaign", "segment", "team")  # as in metrics.compute.Filters
CREATED = [f"moved_start_{stage}" for stage in Stage.values]  # a lead's first move, any stage


def filter_choices() -> dict:
    """The filters' members, as `RangeFilterForm` takes them: campaigns by name, segments seen in
    the snapshot (the leads' industries), the sales teams. Three small queries, none reading the
    leads."""
    campaigns = {
        str(pk): name for pk, name in Campaign.objects.order_by("name").values_list("pk", "name")
    }
    segments = (
        MetricFact.objects.filter(measure__in=CREATED, dimension="segment")
        .values_list("member", flat=True)
        .distinct()
        .order_by("member")
    )
    teams = (
        SalesRep.objects.exclude(team="").values_list("team", flat=True).distinct().order_by("team")
    )
    return {"campaigns": campaigns, "segments": list(segments), "teams": list(teams)}


def _member_field(label: str, what: str) -> forms.ChoiceField:
    return forms.ChoiceField(
        required=False,
        label=label,
        error_messages={"invalid_choice": f"“%(value)s” is not {what}: choose one from the list."},
    )


class RangeFilterForm(forms.Form):
    """A date range (a preset ending yesterday, or custom dates) and the lead filters, all in the
    query string so a view can be shared as a link.

    `today` is the organization's: `timezone.localdate()` inside an `organization_view`, which
    activates the organization's time zone.
    """

    range = forms.ChoiceField(
        required=False,
        label="Range",
        choices=[
            ("30", "Last 30 days"),
            ("90", "Last 90 days"),
            ("365", "Last 365 days"),
            ("custom", "Custom dates"),
        ],
    )
    start = forms.DateField(required=False, label="From", widget=DateInput())
    end = forms.DateField(required=False, label="To", widget=DateInput())
    channel = _member_field("Channel", "a channel")
    campaign = _member_field("Campaign", "a campaign of this organization")
    segment = _member_field("Segment", "a segment")
    team = _member_field("Team", "a team")

    def __init__(
        self,
        data,
        *,
        today: date,
        campaigns: Mapping[str, str],
        segments: Iterable[str],
        teams: Iterable[str],
    ):
        super().__init__(data)
        self.today = today
        self.fields["channel"].choices = [("", "All channels"), *SourceChannel.choices]
        self.fields["campaign"].choices = [("", "All campaigns"), *campaigns.items()]
        self.fields["segment"].choices = [("", "All segments"), *((s, s) for s in segments)]
        self.fields["team"].choices = [("", "All teams"), *((t, t) for t in teams)]

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if not data.get("range"):
            # A link with dates and no range means those dates.
            data["range"] = "custom" if start or end else DEFAULT_RANGE
        # A date that did not parse already says so beside its field.
        if data["range"] == "custom" and "start" not in self.errors and "end" not in self.errors:
            if not start or not end:
                raise ValidationError("Give both dates for a custom range (From and To).")
            if start > end:
                self.add_error("end", "The To date is before the From date.")
            elif end > self.today:
                self.add_error("end", "The To date is in the future.")
            elif (end - start).days >= MAX_RANGE_DAYS:
                self.add_error("start", "Choose at most two years.")
        return data

    def window(self) -> tuple[date, date]:
        """First and last day (inclusive). A preset ends yesterday: today is not computed yet."""
        data = self.cleaned_data
        if data["range"] == "custom":
            return data["start"], data["end"]
        last = self.today - timedelta(days=1)
        return last - timedelta(days=RANGE_PRESETS[data["range"]] - 1), last

    def filters(self) -> Filters:
        return Filters(**{name: self.cleaned_data[name] for name in FILTER_NAMES})

    def show_window(self, first_day: date, last_day: date) -> None:
        """Show the range's dates in From and To, so switching to custom dates starts there."""
        data = self.data.copy()
        data["start"], data["end"] = first_day.isoformat(), last_day.isoformat()
        self.data = data
