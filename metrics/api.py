"""The metrics API, under /api/v1/metrics/: the inputs (marketing spend, sales cost, their CSV
imports, the gross margin), recompute runs, and the scoreboard and funnel read from the snapshot.

Thin by rule: `metrics/serializers.py` parses and shapes, `metrics/services.py` validates and
writes. Every view runs inside the credential's organization (`TenantAPIMixin`), so another
organization's row is a 404 and a campaign or rep id resolves only among the organization's own.

| resource | read | write |
|---|---|---|
| marketing spend (and its CSV import) | every member | admins and marketing |
| sales cost (and its CSV import) | admins | admins |
| settings (gross margin) | admins | admins |
| recompute runs | admins | admins |
| scoreboard, funnel | every member | none |

Sales cost is read by admins alone: a rep's row is that rep's salary or commission.

A CSV import takes the file as the request body (`Content-Type: text/csv`) or as the `file`
field of a multipart form. It is all or nothing: 200 with the number saved, or 400 with every
bad line and its reason (or what is wrong with the file) and nothing saved.
"""

from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import path
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.parsers import BaseParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter
from rest_framework.views import APIView

from leads.api import MARKETING_ONLY, LeadCursorPagination
from metrics import scoreboard, services
from metrics.models import MarketingSpend, MetricRun, MetricsSettings, SalesCost
from metrics.serializers import (
    CsvImportedSerializer,
    CsvRefusedSerializer,
    CsvUploadSerializer,
    FunnelSerializer,
    MarketingSpendFilterSerializer,
    MarketingSpendSerializer,
    MetricRunRequestSerializer,
    MetricRunSerializer,
    MetricsSettingsSerializer,
    SalesCostFilterSerializer,
    SalesCostSerializer,
    ScoreboardQuerySerializer,
    ScoreboardSerializer,
)
from revops.tenancy.api import TenantAPIMixin, TenantViewSet

# Well above MAX_IMPORT_ROWS rows of spend or cost; a bigger body is refused unread.
MAX_CSV_BYTES = 10 * 1024 * 1024
NOT_UTF8 = "The file is not UTF-8 text; save it as CSV (UTF-8) and try again."
TOO_LARGE = f"The file is larger than {MAX_CSV_BYTES // (1024 * 1024)} MB; split it."


def _valid(serializer_class, data, **kwargs) -> dict:
    """Parse a request body (or query) with `serializer_class`; a 400 naming the fields if bad."""
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _cursor(*fields: str) -> type[LeadCursorPagination]:
    """Cursor pages in this order (the id last breaks ties); a mangled cursor is a 400."""
    return type("MetricsCursorPagination", (LeadCursorPagination,), {"ordering": fields})


# --- CSV bodies -------------------------------------------------------------------------------


class CsvTextParser(BaseParser):
    """`Content-Type: text/csv`: the body is the file. Returns at most MAX_CSV_BYTES + 1 bytes,
    so an oversized body is recognised without reading it all."""

    media_type = "text/csv"

    def parse(self, stream, media_type=None, parser_context=None) -> bytes:
        return b"" if stream is None else stream.read(MAX_CSV_BYTES + 1)


def csv_upload_text(raw: bytes) -> str:
    """The text of an uploaded CSV file; a ValidationError on `file` if it is too big or not
    UTF-8 (shared with the browser's upload form)."""
    if len(raw) > MAX_CSV_BYTES:
        raise DjangoValidationError({"file": TOO_LARGE})
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise DjangoValidationError({"file": NOT_UTF8}) from error


def _request_csv(request) -> str:
    data = request.data  # parsed first: an unsupported content type is a 415 here
    if request.content_type.split(";")[0].strip().lower() == CsvTextParser.media_type:
        # An empty body never reaches the parser: DRF hands back an empty form instead.
        return csv_upload_text(data if isinstance(data, bytes) else b"")
    upload = request.FILES.get("file")
    if upload is None:
        raise DjangoValidationError({"file": "Attach the CSV file as the `file` field."})
    if upload.size > MAX_CSV_BYTES:
        raise DjangoValidationError({"file": TOO_LARGE})
    return csv_upload_text(upload.read())


def _csv_import(request, importer) -> Response:
    try:
        result = importer(_request_csv(request))
    except DjangoValidationError as error:
        return Response(
            {"saved": 0, "errors": [], "file": error.messages}, status=status.HTTP_400_BAD_REQUEST
        )
    if result.errors:
        return Response({"saved": 0, "errors": result.errors}, status=status.HTTP_400_BAD_REQUEST)
    return Response({"saved": result.saved})


def _import_schema(columns: str, example: str):
    return extend_schema(
        request={"text/csv": OpenApiTypes.STR, "multipart/form-data": CsvUploadSerializer},
        responses={200: CsvImportedSerializer, 400: CsvRefusedSerializer},
        description=f"Columns (header row, any order): {columns}. All or nothing: every bad "
        "line is reported with its reason and nothing is saved until the file is clean.",
        examples=[OpenApiExample("CSV", value=example, media_type="text/csv", request_only=True)],
    )


# --- marketing spend --------------------------------------------------------------------------


class MarketingSpendViewSet(mixins.RetrieveModelMixin, mixins.DestroyModelMixin, TenantViewSet):
    """Marketing spend by day, channel and campaign, newest first. Every member reads; RevOps
    admins and marketing add, import and delete."""

    serializer_class = MarketingSpendSerializer
    permission_classes = MARKETING_ONLY
    pagination_class = _cursor("-spent_on", "-id")
    http_method_names = ["get", "post", "delete", "head", "options"]

    def get_queryset(self):
        return MarketingSpend.objects.select_related("campaign")

    @extend_schema(parameters=[MarketingSpendFilterSerializer])
    def list(self, request):
        filters = _valid(MarketingSpendFilterSerializer, request.query_params)
        spend = self.get_queryset()
        if "since" in filters:
            spend = spend.filter(spent_on__gte=filters["since"])
        if "until" in filters:
            spend = spend.filter(spent_on__lte=filters["until"])
        if "channel" in filters:
            spend = spend.filter(channel=filters["channel"])
        if "campaign" in filters:
            spend = spend.filter(campaign_id=filters["campaign"])
        page = self.paginate_queryset(spend)
        return self.get_paginated_response(MarketingSpendSerializer(page, many=True).data)

    @extend_schema(request=MarketingSpendSerializer, responses={201: MarketingSpendSerializer})
    def create(self, request):
        data = _valid(MarketingSpendSerializer, request.data)
        spend = services.marketing_spend_record(
            spent_on=data["spent_on"],
            channel=data.get("channel", ""),
            amount=data["amount"],
            currency=data.get("currency", ""),
            campaign=data.get("campaign"),
            note=data.get("note", ""),
        )
        return Response(MarketingSpendSerializer(spend).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        services.marketing_spend_delete(spend=instance)

    @_import_schema(
        "date (YYYY-MM-DD), channel, amount; optional currency, campaign (by name), note",
        "date,channel,amount,campaign\n2026-11-02,paid_search,1200.50,Winter webinar\n",
    )
    @action(detail=False, methods=["post"], url_path="import",
            parser_classes=[CsvTextParser, MultiPartParser])  # fmt: skip
    def import_csv(self, request):
        return _csv_import(request, services.marketing_spend_import_csv)


# --- sales cost -------------------------------------------------------------------------------


class SalesCostViewSet(mixins.RetrieveModelMixin, mixins.DestroyModelMixin, TenantViewSet):
    """What selling cost, per period and team or rep, newest period first. Admins only."""

    serializer_class = SalesCostSerializer
    admin_writes = True
    admin_reads = True
    pagination_class = _cursor("-period_start", "-id")
    http_method_names = ["get", "post", "delete", "head", "options"]

    def get_queryset(self):
        return SalesCost.objects.select_related("rep")

    @extend_schema(parameters=[SalesCostFilterSerializer])
    def list(self, request):
        filters = _valid(SalesCostFilterSerializer, request.query_params)
        costs = self.get_queryset()
        # Periods overlapping [since, until].
        if "since" in filters:
            costs = costs.filter(period_end__gte=filters["since"])
        if "until" in filters:
            costs = costs.filter(period_start__lte=filters["until"])
        if "category" in filters:
            costs = costs.filter(category=filters["category"])
        if "rep" in filters:
            costs = costs.filter(rep_id=filters["rep"])
        if "team" in filters:
            costs = costs.filter(team__iexact=filters["team"])
        page = self.paginate_queryset(costs)
        return self.get_paginated_response(SalesCostSerializer(page, many=True).data)

    @extend_schema(request=SalesCostSerializer, responses={201: SalesCostSerializer})
    def create(self, request):
        data = _valid(SalesCostSerializer, request.data)
        cost = services.sales_cost_record(
            period_start=data["period_start"],
            period_end=data["period_end"],
            category=data["category"],
            amount=data["amount"],
            currency=data.get("currency", ""),
            team=data.get("team", ""),
            rep=data.get("rep"),
            note=data.get("note", ""),
        )
        return Response(SalesCostSerializer(cost).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        services.sales_cost_delete(cost=instance)

    @_import_schema(
        "period_start, period_end (YYYY-MM-DD, inclusive), category (salary, commission, tools, "
        "other), amount; optional currency, team, rep_email, note",
        "period_start,period_end,category,amount,team\n2026-11-01,2026-11-30,salary,42000,East\n",
    )
    @action(detail=False, methods=["post"], url_path="import",
            parser_classes=[CsvTextParser, MultiPartParser])  # fmt: skip
    def import_csv(self, request):
        return _csv_import(request, services.sales_cost_import_csv)


# --- settings ---------------------------------------------------------------------------------


class MetricsSettingsView(TenantAPIMixin, APIView):
    """Figures the metrics need that no record holds: the gross margin (for CLV). Admins."""

    admin_writes = True
    admin_reads = True
    serializer_class = MetricsSettingsSerializer

    def _answer(self, settings: MetricsSettings | None) -> Response:
        return Response(
            MetricsSettingsSerializer(
                {
                    "gross_margin_percent": settings.gross_margin_percent if settings else None,
                    "currency": self.organization.currency,
                }
            ).data
        )

    def get(self, request):
        return self._answer(MetricsSettings.objects.first())

    def put(self, request):
        data = _valid(MetricsSettingsSerializer, request.data)
        return self._answer(services.gross_margin_set(percent=data["gross_margin_percent"]))


# --- recompute runs ---------------------------------------------------------------------------


class MetricRunViewSet(mixins.RetrieveModelMixin, TenantViewSet):
    """Computations of the daily snapshot (nightly, backfills, admins' recomputes), newest
    first. POST asks for a date range to be recomputed now; follow the run's status."""

    serializer_class = MetricRunSerializer
    admin_writes = True
    admin_reads = True
    pagination_class = _cursor("-created_at", "-id")
    http_method_names = ["get", "post", "head", "options"]

    def get_queryset(self):
        return MetricRun.objects.select_related("requested_by")

    def list(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(MetricRunSerializer(page, many=True).data)

    @extend_schema(request=MetricRunRequestSerializer, responses={201: MetricRunSerializer})
    def create(self, request):
        data = _valid(MetricRunRequestSerializer, request.data)
        run = services.metric_run_request(
            actor=request.user, first_day=data["first_day"], last_day=data["last_day"]
        )
        return Response(MetricRunSerializer(run).data, status=status.HTTP_201_CREATED)


# --- scoreboard and funnel --------------------------------------------------------------------


class _RangeQueryView(TenantAPIMixin, APIView):
    """Every member reads the scoreboard; the range and filters come from the query string."""

    def _query(self, request) -> ScoreboardQuerySerializer:
        today = timezone.localtime(timezone=ZoneInfo(self.organization.timezone)).date()
        query = ScoreboardQuerySerializer(data=request.query_params, context={"today": today})
        query.is_valid(raise_exception=True)
        return query


class ScoreboardView(_RangeQueryView):
    """The range's figures, the previous period's and the weekly trend (docs/metrics.md,
    "Scoreboard"); null is "no data"."""

    @extend_schema(parameters=[ScoreboardQuerySerializer], responses=ScoreboardSerializer)
    def get(self, request):
        query = self._query(request)
        since, until = query.validated_data["since"], query.validated_data["until"]
        board = scoreboard.scoreboard(since, until, query.filters())
        previous_since, previous_until = board.previous_range
        weekly = board.weekly.reset_index().astype(object)
        weekly = weekly.where(weekly.notna(), None).to_dict("records")
        return Response(ScoreboardSerializer({
            "since": since, "until": until, "previous_since": previous_since,
            "previous_until": previous_until, "currency": self.organization.currency,
            "filters": query.filters().active(), "values": board.values,
            "previous": board.previous, "kpis": scoreboard.KPIS, "weekly": weekly,
        }).data)  # fmt: skip


class FunnelView(_RangeQueryView):
    """Stage entries, step conversion and drop-off, and the reasons given for each exit."""

    @extend_schema(parameters=[ScoreboardQuerySerializer], responses=FunnelSerializer)
    def get(self, request):
        query = self._query(request)
        since, until = query.validated_data["since"], query.validated_data["until"]
        filters = query.filters()
        return Response(FunnelSerializer({
            "since": since, "until": until, "filters": filters.active(),
            "steps": scoreboard.funnel(since, until, filters),
            "exit_reasons": scoreboard.exit_reasons(since, until, filters).to_dict("records"),
        }).data)  # fmt: skip


router = DefaultRouter(trailing_slash=True, use_regex_path=False)
router.include_root_view = False
router.register("metrics/marketing-spend", MarketingSpendViewSet, basename="metrics-spend")
router.register("metrics/sales-costs", SalesCostViewSet, basename="metrics-sales-cost")
router.register("metrics/runs", MetricRunViewSet, basename="metrics-run")
urlpatterns = [
    path("metrics/settings/", MetricsSettingsView.as_view(), name="metrics-settings"),
    path("metrics/scoreboard/", ScoreboardView.as_view(), name="metrics-scoreboard"),
    path("metrics/funnel/", FunnelView.as_view(), name="metrics-funnel"),
    *router.urls,
]
