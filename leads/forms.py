"""Forms of the lead pages: they parse what a person sent; services decide and write."""

from decimal import Decimal

from django import forms
from django.db.models import Case, Exists, F, IntegerField, OuterRef, Q, QuerySet, Value, When
from django.utils import timezone

from leads.models import (
    AuthorityRole,
    FeedbackStatus,
    LeadTransition,
    SourceChannel,
    Stage,
    TouchKind,
)
from leads.selectors import members_q
from revops.dates import day_range
from revops.tenancy.models import CURRENCY_CHOICES

UNASSIGNED = "none"  # the owner filter's value for leads nobody owns yet

# The lifecycle order, for sorting by stage (alphabetical order would put "accepted" first).
STAGE_ORDER = Case(
    *(When(stage=stage, then=Value(position)) for position, stage in enumerate(Stage.values)),
    output_field=IntegerField(),
)

SORTS = {
    "-created": ("Newest first", ("-created_at", "-id")),
    "created": ("Oldest first", ("created_at", "id")),
    "-score": ("Highest score", ("-score", "-created_at", "-id")),
    "stage": ("Stage", (STAGE_ORDER.asc(), "-created_at", "-id")),
}


class LeadFilterForm(forms.Form):
    """The lead list's filters; they live in the URL so a filtered list can be shared."""

    q = forms.CharField(required=False, label="Search", max_length=200)
    stage = forms.ChoiceField(required=False, choices=[("", "Any stage"), *Stage.choices])
    owner = forms.ChoiceField(required=False)
    source = forms.ChoiceField(required=False, choices=[("", "Any source"), *SourceChannel.choices])
    campaign = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    # The dashboard's drill-down (metrics/dashboard.py) sends its filters here: a segment is the
    # lead's industry, a team its owner's, and `reached` with since/until keeps the leads that
    # moved into that stage in those days (as the funnel counts them); without `reached` the
    # days are the leads' creation days.
    segment = forms.CharField(required=False, max_length=100, label="Segment")
    team = forms.CharField(required=False, max_length=100)
    reached = forms.ChoiceField(
        required=False, label="Reached stage", choices=[("", "Any"), *Stage.choices]
    )
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    sort = forms.ChoiceField(
        required=False, choices=[(key, label) for key, (label, _order) in SORTS.items()]
    )

    def __init__(self, *args, owners, campaigns, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = [
            ("", "Anyone"),
            (UNASSIGNED, "Unassigned"),
            *((str(user.pk), user.display_name) for user in owners),
        ]
        self.fields["campaign"].choices = [("", "Any campaign")] + [
            (c.pk, c.name) for c in campaigns
        ]

    def filter(self, leads: QuerySet) -> QuerySet:
        """Apply the valid filters; a stale or hand-edited value is ignored, not an error page."""
        self.is_valid()
        data = self.cleaned_data
        if data.get("q"):
            term = data["q"].strip()
            leads = leads.filter(
                Q(full_name__icontains=term)
                | Q(email__icontains=term)
                | Q(company_name__icontains=term)
            )
        if data.get("stage"):
            leads = leads.filter(stage=data["stage"])
        if data.get("owner") == UNASSIGNED:
            leads = leads.filter(owner__isnull=True)
        elif data.get("owner"):
            leads = leads.filter(owner_id=int(data["owner"]))
        leads = leads.filter(
            members_q(channel=data.get("source") or "", campaign=data.get("campaign") or "",
                      segment=data.get("segment") or "", team=data.get("team") or "")
        )  # fmt: skip
        leads = self._in_days(leads, data)
        _label, order = SORTS.get(data.get("sort") or "-created", SORTS["-created"])
        return leads.order_by(*order)

    @staticmethod
    def _in_days(leads: QuerySet, data: dict) -> QuerySet:
        since, until, reached = data.get("since"), data.get("until"), data.get("reached")
        tz = timezone.get_current_timezone()
        bounds = {}  # the instants of the days' first and last midnights, where given
        if since:
            bounds["gte"] = day_range(since, since, tz)[0]
        if until:
            bounds["lt"] = day_range(until, until, tz)[1]
        if not reached:
            return leads.filter(**{f"created_at__{op}": at for op, at in bounds.items()})
        # A move into the stage (not an assignment note), read by the (organization, to_stage,
        # at) index.
        moves = LeadTransition.objects.filter(
            lead=OuterRef("pk"), to_stage=reached, **{f"at__{op}": at for op, at in bounds.items()}
        ).exclude(from_stage=F("to_stage"))
        return leads.filter(Exists(moves))


class BulkAssignForm(forms.Form):
    leads = forms.ModelMultipleChoiceField(queryset=None, error_messages={
        "required": "Tick the leads to assign.",
        "invalid_choice": "One of the ticked leads no longer exists.",
    })  # fmt: skip
    owner = forms.TypedChoiceField(coerce=int, label="Assign to")

    def __init__(self, *args, leads: QuerySet, owners, **kwargs):
        super().__init__(*args, **kwargs)
        # The organization's scoped queryset: another tenant's lead id is simply not a choice.
        self.fields["leads"].queryset = leads
        self.fields["owner"].choices = [(user.pk, user.display_name) for user in owners]


class ReasonForm(forms.Form):
    """An optional free-text reason (Mark as MQL)."""

    reason = forms.CharField(required=False, max_length=2000)


class ForceQualifyForm(forms.Form):
    reason = forms.CharField(
        max_length=2000,
        error_messages={"required": "Say why this lead should skip the policy."},
    )


class RejectForm(forms.Form):
    reason_id = forms.TypedChoiceField(
        coerce=int, label="Reason", error_messages={"required": "Choose a rejection reason."}
    )
    comment = forms.CharField(required=False, max_length=2000)

    def __init__(self, *args, reasons, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reason_id"].choices = [(r.pk, r.label) for r in reasons]


class TouchForm(forms.Form):
    kind = forms.ChoiceField(choices=TouchKind.choices)
    note = forms.CharField(required=False, max_length=5000)


class RatingForm(forms.Form):
    rating = forms.TypedChoiceField(
        coerce=int,
        choices=[(n, n) for n in range(1, 6)],
        error_messages={"required": "Click a star from 1 (junk) to 5 (excellent)."},
    )
    tag_ids = forms.TypedMultipleChoiceField(coerce=int, required=False)
    comment = forms.CharField(required=False, max_length=5000)

    def __init__(self, *args, tags, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tag_ids"].choices = [(t.pk, t.label) for t in tags]


class FeedbackFilterForm(forms.Form):
    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), *FeedbackStatus.choices]
    )
    campaign = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    source = forms.ChoiceField(required=False, choices=[("", "Any source"), *SourceChannel.choices])
    tag = forms.ChoiceField(required=False)

    def __init__(self, *args, campaigns, tags, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["campaign"].choices = [("", "Any campaign")] + [
            (c.pk, c.name) for c in campaigns
        ]
        self.fields["tag"].choices = [("", "Any tag")] + [(label, label) for label in tags]

    def selector_kwargs(self) -> dict:
        """The valid filters as `selectors.feedback_inbox` arguments."""
        self.is_valid()
        data = self.cleaned_data
        return {
            "status": data.get("status") or None,
            "campaign_id": data.get("campaign"),
            "source": data.get("source") or None,
            "tag": data.get("tag") or None,
        }


class FeedbackResponseForm(forms.Form):
    response = forms.CharField(required=False, max_length=5000)


class CampaignForm(forms.Form):
    name = forms.CharField(max_length=200)
    channel = forms.ChoiceField(choices=SourceChannel.choices)
    starts_on = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    ends_on = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    budget = forms.DecimalField(required=False, min_value=0, max_digits=14, decimal_places=2)

    def clean(self):
        data = super().clean()
        starts_on, ends_on = data.get("starts_on"), data.get("ends_on")
        if starts_on and ends_on and ends_on < starts_on:
            self.add_error("ends_on", "A campaign cannot end before it starts.")
        return data


class PolicyForm(forms.Form):
    """A new version of the qualification policy, prefilled from the current one."""

    budget_minimum = forms.DecimalField(
        min_value=Decimal(0), max_digits=14, decimal_places=2, label="Budget at least"
    )
    budget_currency = forms.ChoiceField(choices=CURRENCY_CHOICES, label="Currency")
    authority_roles = forms.MultipleChoiceField(
        choices=AuthorityRole.choices,
        widget=forms.CheckboxSelectMultiple,
        label="Buying roles with authority",
    )
    needs = forms.CharField(
        max_length=2000,
        label="Pain points we solve",
        help_text="Comma-separated, e.g. Reporting, Forecasting.",
    )
    timeline_max_days = forms.IntegerField(min_value=0, label="Buying within (days)")
    criteria_required = forms.TypedChoiceField(
        coerce=int,
        choices=[(n, f"{n} of 4") for n in range(1, 5)],
        label="Criteria required",
    )
    mql_score_threshold = forms.IntegerField(
        min_value=0,
        required=False,
        label="MQL at score",
        help_text="Leave empty for no automatic MQL.",
    )
    mql_manual_marking = forms.BooleanField(required=False, label="Marketing may mark MQLs by hand")
    change_note = forms.CharField(max_length=300, required=False, label="What changed and why")

    POLICY_FIELDS = (
        "budget_minimum", "budget_currency", "authority_roles", "needs", "timeline_max_days",
        "criteria_required", "mql_score_threshold", "mql_manual_marking",
    )  # fmt: skip

    @classmethod
    def initial_from(cls, policy) -> dict:
        initial = {name: getattr(policy, name) for name in cls.POLICY_FIELDS}
        initial["needs"] = ", ".join(policy.needs)
        return initial

    def clean_needs(self) -> list[str]:
        needs, seen = [], set()
        for part in self.cleaned_data["needs"].split(","):
            need = " ".join(part.split())
            if not need or need.lower() in seen:
                continue
            if len(need) > 80:
                raise forms.ValidationError(f"Keep each pain point under 80 characters: {need}")
            seen.add(need.lower())
            needs.append(need)
        if not needs:
            raise forms.ValidationError("List at least one pain point you solve.")
        return needs

    def policy_fields(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.POLICY_FIELDS}


class ConvertForm(forms.Form):
    amount = forms.DecimalField(min_value=0, max_digits=14, decimal_places=2)
    expected_close_on = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    probability = forms.IntegerField(min_value=0, max_value=100, initial=20)


class WinForm(forms.Form):
    value = forms.DecimalField(
        required=False, min_value=0, max_digits=14, decimal_places=2,
        help_text="Leave empty to close at the opportunity's amount.",
    )  # fmt: skip


class ExitForm(forms.Form):
    """Nurture or disqualify: a lead leaves the funnel only with a written reason."""

    to_stage = forms.ChoiceField(choices=[("nurture", "Nurture"), ("disqualified", "Disqualify")])
    reason = forms.CharField(max_length=2000)
