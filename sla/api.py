"""The SLA REST API, under /api/v1/sla/: policies, calendars, timers, the breach log, compliance
figures, SQL-volume periods, webhooks, and each member's notifications.

Thin by rule: `sla/serializers.py` parses and shapes; writes are functions of `sla/services.py`
(webhooks: `sla/config_services.py`), reads start from `sla/selectors.py` or a scoped default
manager. Every view inherits `TenantViewSet`, so another organization's object is a 404 and
writable ids (a policy's calendar) resolve only among the organization's own rows.

Who may do what (viewers never write; the base permission refuses them):

| action | roles |
|---|---|
| read policies, calendars, timers, breaches, compliance, periods | every member |
| new policy version, calendars, pause and resume timers | admin |
| explain a breach | the timer's owner or an admin; marketing for feedback and volume (service) |
| webhooks, read and write (Slack URLs are credentials) | admin |
| one's own notifications: read, mark read | every member, viewers included |
"""

from zoneinfo import ZoneInfo

from django.db.models import Prefetch, ProtectedError, prefetch_related_objects
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter

from leads.api import LeadCursorPagination
from revops.dates import day_range
from revops.tenancy.api import TenantViewSet
from revops.tenancy.integrity import constraint_as_field_error
from sla import config_services, selectors, services
from sla.models import (
    BusinessCalendar,
    Notification,
    SlaEvent,
    SlaPolicy,
    VolumePeriodResult,
    WebhookEndpoint,
)
from sla.serializers import (
    BreachFilterSerializer,
    BreachSerializer,
    CalendarSerializer,
    ComplianceQuerySerializer,
    ComplianceSerializer,
    ExplainSerializer,
    MarkedSerializer,
    NotificationFilterSerializer,
    NotificationSerializer,
    PauseSerializer,
    PeriodDetailSerializer,
    PeriodFilterSerializer,
    PeriodSerializer,
    SlaPolicyFilterSerializer,
    SlaPolicySerializer,
    SlaPolicyWriteSerializer,
    TimerDetailSerializer,
    TimerFilterSerializer,
    TimerSerializer,
    UnreadCountSerializer,
    WebhookCreatedSerializer,
    WebhookSerializer,
    WebhookSwitchSerializer,
)


def _valid(serializer_class, data, **kwargs) -> dict:
    """Parse a request body (or query) with `serializer_class`; a 400 naming the fields if bad."""
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _cursor(*fields: str) -> type[LeadCursorPagination]:
    """Cursor pages in this order (the id last breaks ties); a mangled cursor is a 400."""
    return type("SlaCursorPagination", (LeadCursorPagination,), {"ordering": fields})


# --- policies ---------------------------------------------------------------------------------


class PolicyViewSet(mixins.RetrieveModelMixin, TenantViewSet):
    """The three commitments (sales follow-up, marketing feedback, marketing SQL volume). A
    change is saved as a new immutable version; versions are never edited or deleted."""

    admin_writes = True
    serializer_class = SlaPolicySerializer
    pagination_class = None  # three current versions, or one kind's history
    http_method_names = ["get", "post", "head", "options"]

    def get_queryset(self):
        return SlaPolicy.objects.select_related("calendar", "created_by")

    @extend_schema(
        parameters=[SlaPolicyFilterSerializer],
        description="The current version of each kind, or with `kind` every version of it.",
    )
    def list(self, request):
        kind = _valid(SlaPolicyFilterSerializer, request.query_params).get("kind")
        if kind:
            policies = list(selectors.policy_history(kind))
        else:
            policies = list(services.policies_ensure().values())
            prefetch_related_objects(policies, "created_by")
        return Response(SlaPolicySerializer(policies, many=True).data)

    @extend_schema(request=SlaPolicyWriteSerializer, responses={201: SlaPolicySerializer})
    def create(self, request):
        values = dict(_valid(SlaPolicyWriteSerializer, request.data))
        policy = services.policy_create_version(
            kind=values.pop("kind"),
            actor=request.user,
            rebase_running=values.pop("rebase_running"),
            change_note=values.pop("change_note", ""),
            **values,
        )
        return Response(SlaPolicySerializer(policy).data, status=status.HTTP_201_CREATED)


# --- calendars --------------------------------------------------------------------------------

CALENDAR_NAME_TAKEN = "Another calendar has this name."


class CalendarViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    TenantViewSet,
):
    """Business calendars: a time zone, working intervals per weekday, holidays, or 24/7.
    A change applies to timers started (or re-based) afterwards; running timers keep the
    deadlines computed when they started."""

    admin_writes = True
    serializer_class = CalendarSerializer

    def get_queryset(self):
        return BusinessCalendar.objects.order_by("name", "id")

    def _save(self, serializer):
        values = serializer.calendar_values(default_timezone=self.organization.timezone)
        # The service checks the name; the constraint decides a race between two saves.
        with constraint_as_field_error("calendar_unique_name", "name", CALENDAR_NAME_TAKEN):
            serializer.instance = services.calendar_save(
                values=values, calendar=serializer.instance
            )

    def perform_create(self, serializer):
        self._save(serializer)

    def perform_update(self, serializer):
        self._save(serializer)

    def perform_destroy(self, instance):
        try:
            instance.delete()
        except ProtectedError as error:
            # Policy versions are kept as records, so a calendar any version used stays.
            versions = sorted({str(policy) for policy in error.protected_objects})
            raise ValidationError(
                {
                    "detail": [
                        f"This calendar is used by {', '.join(versions)}; policy versions keep "
                        "their calendar, so it cannot be deleted."
                    ]
                }
            ) from error


# --- timers -----------------------------------------------------------------------------------


class TimerViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Follow-up and feedback timers, soonest deadline first. Admins pause and resume them."""

    admin_writes = True
    serializer_class = TimerSerializer
    pagination_class = _cursor("due_at", "id")

    def get_queryset(self):
        # The calendar computes each open timer's elapsed time (cached, no query per row).
        return selectors.timers().select_related("policy__calendar")

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "now": timezone.now()}

    def _detail(self, pk: int) -> dict:
        timer = self.get_queryset().filter(pk=pk).first()
        if timer is None:
            raise NotFound("No such timer.")
        prefetch_related_objects(
            [timer],
            Prefetch("events", SlaEvent.objects.select_related("actor").order_by("at", "id")),
        )
        serializer = TimerDetailSerializer(timer, context=self.get_serializer_context())
        return serializer.data

    @extend_schema(parameters=[TimerFilterSerializer])
    def list(self, request, *args, **kwargs):
        filters = _valid(TimerFilterSerializer, request.query_params)
        timers = selectors.timers(
            state=filters.get("state", ""),
            target=filters.get("target", ""),
            owner_id=filters.get("owner"),
            lead_id=filters.get("lead"),
        ).select_related("policy__calendar")
        page = self.paginate_queryset(timers)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(responses=TimerDetailSerializer)
    def retrieve(self, request, pk: int):
        return Response(self._detail(pk))

    @extend_schema(request=PauseSerializer, responses=TimerDetailSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request, pk: int):
        timer = self.get_object()
        reason = _valid(PauseSerializer, request.data)["reason"]
        services.timer_pause(timer=timer, actor=request.user, reason=reason)
        return Response(self._detail(pk))

    @extend_schema(
        request=None, responses=TimerDetailSerializer,
        description="The deadline moves forward by the business time spent paused.",
    )  # fmt: skip
    @action(detail=True, methods=["post"])
    def resume(self, request, pk: int):
        services.timer_resume(timer=self.get_object(), actor=request.user)
        return Response(self._detail(pk))


# --- breaches ---------------------------------------------------------------------------------


class BreachViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """The breach log, newest first: every missed commitment, dated at its deadline."""

    serializer_class = BreachSerializer
    pagination_class = _cursor("-at", "-id")

    def get_queryset(self):
        return selectors.breach_log()

    @extend_schema(parameters=[BreachFilterSerializer])
    def list(self, request, *args, **kwargs):
        filters = _valid(BreachFilterSerializer, request.query_params)
        breaches = selectors.breach_log(
            start=filters.get("since"), end=filters.get("until"), target=filters.get("target", "")
        )
        page = self.paginate_queryset(breaches)
        return self.get_paginated_response(BreachSerializer(page, many=True).data)

    @extend_schema(
        request=ExplainSerializer, responses=BreachSerializer,
        description="Say why it happened (the breach log's reason). The timer's owner or an "
        "admin; marketing too for feedback and SQL-volume breaches.",
    )  # fmt: skip
    @action(detail=True, methods=["post"])
    def explain(self, request, pk: int):
        event = self.get_object()
        explanation = _valid(ExplainSerializer, request.data)["explanation"]
        services.breach_explain(
            event=event,
            actor=request.user,
            explanation=explanation,
            is_admin=request.membership.is_admin,
        )
        return Response(BreachSerializer(self.get_queryset().get(pk=event.pk)).data)


# --- compliance -------------------------------------------------------------------------------


class ComplianceViewSet(TenantViewSet):
    """Compliance for whole days in the organization's time zone (default: the last 30)."""

    serializer_class = ComplianceSerializer
    pagination_class = None

    @extend_schema(parameters=[ComplianceQuerySerializer], responses=ComplianceSerializer)
    def list(self, request):
        tz = ZoneInfo(self.organization.timezone)
        now = timezone.now()
        query = _valid(
            ComplianceQuerySerializer,
            request.query_params,
            context={"today": now.astimezone(tz).date()},
        )
        start, end = day_range(query["start"], query["end"], tz)
        trend = selectors.compliance_trend(start=start, end=end, period=query["period"])
        volume = selectors.volume_current()
        for period in volume:
            period.series = selectors.volume_pacing_series(period, now)
        figures = {
            "start": query["start"],
            "end": query["end"],
            "period": query["period"],
            "by_target": selectors.compliance(start=start, end=end, by="target"),
            "by_owner": selectors.compliance(start=start, end=end, by="owner"),
            "by_team": selectors.compliance(start=start, end=end, by="team"),
            "trend": [
                {**row, "period_start": row["period"].astimezone(tz).date()} for row in trend
            ],
            "first_touch": selectors.first_touch_times(start=start, end=end),
            "volume": volume,
        }
        return Response(ComplianceSerializer(figures).data)


# --- SQL-volume periods -----------------------------------------------------------------------


class PeriodViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Marketing's SQL-volume periods, newest first: pacing while open, the result once closed."""

    serializer_class = PeriodSerializer
    pagination_class = _cursor("-starts_at", "-id")

    def get_queryset(self):
        return VolumePeriodResult.objects.select_related("policy__calendar")

    @extend_schema(parameters=[PeriodFilterSerializer])
    def list(self, request, *args, **kwargs):
        state = _valid(PeriodFilterSerializer, request.query_params).get("state")
        periods = self.get_queryset()
        if state:
            periods = periods.filter(state=state)
        page = self.paginate_queryset(periods)
        return self.get_paginated_response(PeriodSerializer(page, many=True).data)

    @extend_schema(responses=PeriodDetailSerializer)
    def retrieve(self, request, pk: int):
        period = self.get_object()
        period.series = selectors.volume_pacing_series(period)
        return Response(PeriodDetailSerializer(period).data)


# --- webhooks ---------------------------------------------------------------------------------


class WebhookViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    TenantViewSet,
):
    """Where the organization's SLA warnings and breaches are posted. Admins only, reads
    included: a Slack webhook's URL is itself a credential."""

    admin_writes = True
    admin_reads = True
    serializer_class = WebhookSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return WebhookEndpoint.objects.order_by("name", "id")

    @extend_schema(request=WebhookSerializer, responses={201: WebhookCreatedSerializer})
    def create(self, request):
        data = _valid(WebhookSerializer, request.data)
        endpoint, secret = config_services.webhook_endpoint_create(
            name=data["name"],
            url=data["url"],
            format=data["format"],
            on_warning=data.get("on_warning", True),
            on_breach=data.get("on_breach", True),
        )
        if "active" in data:
            config_services.webhook_endpoint_switch(endpoint=endpoint, active=data["active"])
        endpoint.secret = secret
        return Response(WebhookCreatedSerializer(endpoint).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=WebhookSwitchSerializer, responses=WebhookSerializer)
    def partial_update(self, request, pk: int):
        endpoint = self.get_object()
        fixed = sorted({"name", "url", "format"} & set(request.data))
        if fixed:
            message = "An endpoint's name, address and format are fixed; add a new one instead."
            raise ValidationError({name: [message] for name in fixed})
        switches = _valid(WebhookSwitchSerializer, request.data, partial=True)
        if switches:
            config_services.webhook_endpoint_switch(endpoint=endpoint, **switches)
        return Response(WebhookSerializer(endpoint).data)

    def perform_destroy(self, instance):
        config_services.webhook_endpoint_delete(endpoint=instance)


# --- notifications ----------------------------------------------------------------------------


class NotificationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """The caller's own in-app notifications (the bell), newest first. Someone else's
    notification answers 404."""

    serializer_class = NotificationSerializer
    # Every member, viewers included: marking one's own notifications read changes nothing of
    # the organization's.
    own_writes = True
    pagination_class = _cursor("-created_at", "-id")

    def get_queryset(self):
        return Notification.objects.filter(user=self.request.user).select_related("event")

    @extend_schema(parameters=[NotificationFilterSerializer])
    def list(self, request, *args, **kwargs):
        notifications = self.get_queryset()
        if _valid(NotificationFilterSerializer, request.query_params).get("unread"):
            notifications = notifications.filter(read_at__isnull=True)
        page = self.paginate_queryset(notifications)
        return self.get_paginated_response(NotificationSerializer(page, many=True).data)

    @extend_schema(responses=UnreadCountSerializer)
    @action(detail=False, methods=["get"], url_path="unread-count")
    def unread_count(self, request):
        return Response({"unread": selectors.unread_count(request.user)})

    @extend_schema(request=None, responses=NotificationSerializer)
    @action(detail=True, methods=["post"])
    def read(self, request, pk: int):
        notification = self.get_object()
        services.notification_mark_read(notification=notification, user=request.user)
        return Response(NotificationSerializer(self.get_queryset().get(pk=pk)).data)

    @extend_schema(request=None, responses=MarkedSerializer)
    @action(detail=False, methods=["post"], url_path="read-all")
    def read_all(self, request):
        return Response({"marked": services.notifications_mark_all_read(user=request.user)})


router = DefaultRouter(trailing_slash=True, use_regex_path=False)
router.include_root_view = False
router.register("sla/policies", PolicyViewSet, basename="sla-policy")
router.register("sla/calendars", CalendarViewSet, basename="sla-calendar")
router.register("sla/timers", TimerViewSet, basename="sla-timer")
router.register("sla/breaches", BreachViewSet, basename="sla-breach")
router.register("sla/compliance", ComplianceViewSet, basename="sla-compliance")
router.register("sla/periods", PeriodViewSet, basename="sla-period")
router.register("sla/webhooks", WebhookViewSet, basename="sla-webhook")
router.register("sla/notifications", NotificationViewSet, basename="sla-notification")
urlpatterns = router.urls
