"""Forms of the metrics input pages. They parse types and offer choices; `metrics.services`
decides what is valid (the currency, a period's order, a campaign of this organization), so the
pages, the API and CSV imports agree.

Choices that come from the organization's rows (campaigns, members) are built in `__init__`,
inside the request's organization scope.
"""

from django import forms

from leads.models import Campaign, SourceChannel
from metrics.models import SalesCostCategory
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
