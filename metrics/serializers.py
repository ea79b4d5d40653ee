"""What the metrics API reads and writes, and how it looks on the wire.

Serializers parse types and shape answers; `metrics/services.py` decides what is valid (the
organization's currency, a period that ends after it starts) and writes. Amounts are decimal
strings in the organization's currency, as the models store them.
"""

from datetime import timedelta

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from leads.api import MemberPrimaryKeyRelatedField, ScopedPrimaryKeyRelatedField
from leads.models import Campaign, SourceChannel
from metrics.compute import Filters
from metrics.models import MarketingSpend, MetricRun, SalesCost, SalesCostCategory
from revops.tenancy.api import UserSummarySerializer
from revops.tenancy.models import CURRENCY_CHOICES

MAX_ID = 2**63 - 1


def _amount_field(**kwargs) -> serializers.DecimalField:
    # The columns' own bounds: 14 digits, 2 of them decimals, never negative.
    return serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0, **kwargs)


# --- marketing spend --------------------------------------------------------------------------


class MarketingSpendSerializer(serializers.ModelSerializer):
    campaign = ScopedPrimaryKeyRelatedField(
        model=Campaign, required=False, allow_null=True,
        help_text="One of the organization's campaigns; its channel is the default channel.",
    )  # fmt: skip
    campaign_name = serializers.CharField(source="campaign.name", read_only=True, allow_null=True)
    channel = serializers.ChoiceField(
        choices=SourceChannel.choices, required=False, allow_blank=True,
        help_text="Required unless a campaign is given.",
    )  # fmt: skip
    amount = _amount_field()
    currency = serializers.ChoiceField(
        choices=CURRENCY_CHOICES, required=False, allow_blank=True,
        help_text="The organization's currency (the default); any other is refused.",
    )  # fmt: skip
    note = serializers.CharField(required=False, allow_blank=True, max_length=300)

    class Meta:
        model = MarketingSpend
        fields = ["id", "spent_on", "channel", "campaign", "campaign_name", "amount", "currency",
                  "note", "created_at"]  # fmt: skip
        read_only_fields = ["id", "campaign_name", "created_at"]


class MarketingSpendFilterSerializer(serializers.Serializer):
    since = serializers.DateField(required=False, help_text="Spend on or after this day.")
    until = serializers.DateField(required=False, help_text="Spend on or before this day.")
    channel = serializers.ChoiceField(choices=SourceChannel.choices, required=False)
    campaign = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, help_text="A campaign id."
    )

    def validate(self, attrs):
        if "since" in attrs and "until" in attrs and attrs["until"] < attrs["since"]:
            raise serializers.ValidationError({"until": ["Must not be before since."]})
        return attrs


# --- sales cost -------------------------------------------------------------------------------


class SalesCostSerializer(serializers.ModelSerializer):
    rep = MemberPrimaryKeyRelatedField(
        required=False, allow_null=True, help_text="A member's user id, for a rep's own cost."
    )
    rep_name = serializers.CharField(source="rep.display_name", read_only=True, allow_null=True)
    category = serializers.ChoiceField(choices=SalesCostCategory.choices)
    amount = _amount_field(help_text="For the whole period; spread evenly over its days.")
    currency = serializers.ChoiceField(
        choices=CURRENCY_CHOICES, required=False, allow_blank=True,
        help_text="The organization's currency (the default); any other is refused.",
    )  # fmt: skip
    team = serializers.CharField(required=False, allow_blank=True, max_length=100)
    note = serializers.CharField(required=False, allow_blank=True, max_length=300)

    class Meta:
        model = SalesCost
        fields = ["id", "period_start", "period_end", "team", "rep", "rep_name", "category",
                  "amount", "currency", "note", "created_at"]  # fmt: skip
        read_only_fields = ["id", "rep_name", "created_at"]
        extra_kwargs = {"period_end": {"help_text": "Inclusive."}}


class SalesCostFilterSerializer(serializers.Serializer):
    since = serializers.DateField(required=False, help_text="Periods ending on or after this day.")
    until = serializers.DateField(
        required=False, help_text="Periods starting on or before this day."
    )
    category = serializers.ChoiceField(choices=SalesCostCategory.choices, required=False)
    rep = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, help_text="A rep's user id."
    )
    team = serializers.CharField(required=False, max_length=100)

    def validate(self, attrs):
        if "since" in attrs and "until" in attrs and attrs["until"] < attrs["since"]:
            raise serializers.ValidationError({"until": ["Must not be before since."]})
        return attrs


# --- CSV imports ------------------------------------------------------------------------------


class CsvUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="UTF-8 CSV with a header row.")


class CsvLineErrorSerializer(serializers.Serializer):
    line = serializers.IntegerField(help_text="The file's line number (the header is line 1).")
    reason = serializers.CharField()


class CsvImportedSerializer(serializers.Serializer):
    saved = serializers.IntegerField(help_text="Rows saved: every row of the file.")


class CsvRefusedSerializer(serializers.Serializer):
    """Nothing was saved. `errors` lists every bad line; `file` says what is wrong with the
    file as a whole (missing columns, not UTF-8 text, too large)."""

    saved = serializers.IntegerField(help_text="Always 0.")
    errors = CsvLineErrorSerializer(many=True)
    file = serializers.ListField(child=serializers.CharField(), required=False)


# --- settings and runs ------------------------------------------------------------------------


class MetricsSettingsSerializer(serializers.Serializer):
    gross_margin_percent = serializers.DecimalField(
        max_digits=5, decimal_places=2, min_value=0, max_value=100, allow_null=True,
        help_text="Gross margin on revenue, 0 to 100; null: unknown, so CLV shows no data.",
    )  # fmt: skip
    currency = serializers.CharField(
        read_only=True, help_text="The organization's currency: every amount is in it."
    )


class MetricRunSerializer(serializers.ModelSerializer):
    requested_by = UserSummarySerializer(read_only=True, allow_null=True)
    duration_seconds = serializers.SerializerMethodField(
        help_text="From start to finish; null until it has finished."
    )

    class Meta:
        model = MetricRun
        fields = ["id", "first_day", "last_day", "status", "requested_by", "created_at",
                  "started_at", "finished_at", "duration_seconds", "facts_written",
                  "error"]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_duration_seconds(self, run: MetricRun) -> float | None:
        return run_duration_seconds(run)


def run_duration_seconds(run: MetricRun) -> float | None:
    if run.started_at is None or run.finished_at is None:
        return None
    return (run.finished_at - run.started_at).total_seconds()


class MetricRunRequestSerializer(serializers.Serializer):
    first_day = serializers.DateField()
    last_day = serializers.DateField(help_text="Inclusive; at most three years after first_day.")


# --- scoreboard and funnel --------------------------------------------------------------------

MAX_RANGE_DAYS = 3 * 366


class ScoreboardQuerySerializer(serializers.Serializer):
    """A range and the lead filters; the range defaults to the 30 days ending yesterday in the
    organization's time zone."""

    since = serializers.DateField(required=False, help_text="First day (inclusive).")
    until = serializers.DateField(required=False, help_text="Last day (inclusive).")
    channel = serializers.ChoiceField(choices=SourceChannel.choices, required=False)
    campaign = ScopedPrimaryKeyRelatedField(model=Campaign, required=False,
                                            help_text="A campaign id.")  # fmt: skip
    segment = serializers.CharField(required=False, max_length=100, help_text="An industry.")
    team = serializers.CharField(required=False, max_length=100)

    def validate(self, attrs):
        yesterday = self.context["today"] - timedelta(days=1)
        attrs.setdefault("until", yesterday)
        attrs.setdefault("since", attrs["until"] - timedelta(days=29))
        if attrs["until"] < attrs["since"]:
            raise serializers.ValidationError({"until": ["Must not be before since."]})
        if (attrs["until"] - attrs["since"]).days >= MAX_RANGE_DAYS:
            raise serializers.ValidationError(
                {"since": [f"A range is at most {MAX_RANGE_DAYS} days."]}
            )
        return attrs

    def filters(self) -> Filters:
        data = self.validated_data
        campaign = data.get("campaign")
        return Filters(channel=data.get("channel", ""), segment=data.get("segment", ""),
                       campaign=str(campaign.pk) if campaign else "",
                       team=data.get("team", ""))  # fmt: skip


class FigureField(serializers.FloatField):
    """A figure, or null for "no data"."""

    def __init__(self, **kwargs):
        super().__init__(allow_null=True, **kwargs)


class KpiSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    unit = serializers.CharField()
    higher_is_better = serializers.BooleanField()


class ScoreboardSerializer(serializers.Serializer):
    since = serializers.DateField()
    until = serializers.DateField()
    previous_since = serializers.DateField()
    previous_until = serializers.DateField()
    currency = serializers.CharField()
    filters = serializers.DictField(child=serializers.CharField())
    values = serializers.DictField(child=FigureField(), help_text="Figure key to value or null.")
    previous = serializers.DictField(child=FigureField())
    kpis = KpiSerializer(many=True)
    weekly = serializers.ListField(child=serializers.DictField(), help_text=(
        "One entry per week of the range (week_end, then each KPI and velocity)."))  # fmt: skip


class FunnelStepSerializer(serializers.Serializer):
    stage = serializers.CharField()
    label = serializers.CharField()
    entered = serializers.FloatField()
    next_stage = serializers.CharField(allow_null=True)
    converted = FigureField()
    conversion = FigureField()
    drop_off = FigureField()
    exits = serializers.DictField(child=serializers.FloatField())


class ExitReasonSerializer(serializers.Serializer):
    from_stage = serializers.CharField()
    to_stage = serializers.CharField()
    reason = serializers.CharField(allow_blank=True)
    count = serializers.FloatField()


class FunnelSerializer(serializers.Serializer):
    since = serializers.DateField()
    until = serializers.DateField()
    filters = serializers.DictField(child=serializers.CharField())
    steps = FunnelStepSerializer(many=True)
    exit_reasons = ExitReasonSerializer(many=True)
