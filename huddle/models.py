"""The weekly revenue huddle: one per organization and week (weeks start on Monday in the
organization's time zone), the figures it showed, the notes taken per agenda section, and the
joint action items, which carry over from huddle to huddle until they are done or dropped.

Figures are frozen: while a huddle's week runs, every opening recomputes them from the metrics
snapshot and a few indexed live reads and stores them on the row (`figures`); once the week is
over the stored record is what the page shows, never recomputed (docs/architecture.md,
"Weekly revenue huddle").
"""

from django.conf import settings
from django.db import models

from revops.tenancy.models import TenantModel


class Section(models.TextChoices):
    """The agenda, in order: one screen each."""

    PIPELINE = "pipeline", "Pipeline health"
    FEEDBACK = "feedback", "Lead-quality feedback"
    SLA = "sla", "SLAs"
    ACTIONS = "actions", "Next week's joint activities"


class HuddleSettings(TenantModel):
    """The organization's huddle knobs; absent means the defaults."""

    # A deal is stalled when its lead has neither changed stage nor been touched for this long.
    stalled_after_days = models.PositiveSmallIntegerField(default=14)
    # Pipeline coverage and the forecast are read against it; null: "no target set".
    monthly_revenue_target = models.DecimalField(
        max_digits=14, decimal_places=2, null=True, blank=True
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization"], name="huddlesettings_one_per_org"),
            models.CheckConstraint(
                condition=models.Q(stalled_after_days__gte=1, stalled_after_days__lte=365),
                name="huddlesettings_stalled_days_range",
            ),
            models.CheckConstraint(
                condition=models.Q(monthly_revenue_target__gte=0),
                name="huddlesettings_target_not_negative",
            ),
        ]


class Huddle(TenantModel):
    """One week's huddle. Created when it is first opened during its week (or when an item or a
    note is added to it ahead of its week)."""

    week_start = models.DateField(help_text="The Monday the week starts on (organization's zone)")
    # The frozen figures record (huddle.selectors.huddle_figures); {} until first computed.
    figures = models.JSONField(default=dict, blank=True)
    figures_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-week_start"]
        constraints = [
            # Also the index of the history list and of "the huddle before this one".
            models.UniqueConstraint(
                fields=["organization", "week_start"], name="huddle_one_per_week"
            ),
            models.CheckConstraint(
                condition=models.Q(week_start__iso_week_day=1), name="huddle_week_starts_monday"
            ),
        ]

    def __str__(self) -> str:
        return f"Huddle of the week of {self.week_start:%-d %b %Y}"


class HuddleNote(TenantModel):
    """A note taken during one agenda section, in plain text, with who wrote it and when."""

    huddle = models.ForeignKey(Huddle, on_delete=models.CASCADE, related_name="notes")
    section = models.CharField(max_length=10, choices=Section.choices)
    body = models.TextField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(section__in=Section.values), name="huddlenote_section_valid"
            ),
        ]
        indexes = [
            # The huddle page reads its notes, all sections at once.
            models.Index(
                fields=["organization", "huddle", "created_at"], name="huddlenote_by_huddle"
            ),
        ]


class Team(models.TextChoices):
    SALES = "sales", "Sales"
    MARKETING = "marketing", "Marketing"
    JOINT = "joint", "Both teams"


class ItemStatus(models.TextChoices):
    OPEN = "open", "Open"
    DONE = "done", "Done"
    DROPPED = "dropped", "Dropped"


class ActionItem(TenantModel):
    """A joint activity agreed in a huddle. It belongs to the huddle it was created in; every
    later huddle shows it until it is done or dropped (`selectors.action_items`)."""

    huddle = models.ForeignKey(Huddle, on_delete=models.CASCADE, related_name="action_items")
    title = models.CharField(max_length=200)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )  # fmt: skip
    team = models.CharField(max_length=10, choices=Team.choices, default=Team.JOINT)
    due_on = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=ItemStatus.choices, default=ItemStatus.OPEN)
    # When it was done or dropped: a past huddle shows an item closed after its week as open.
    closed_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    class Meta:
        ordering = ["due_on", "created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=ItemStatus.values), name="actionitem_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(team__in=Team.values), name="actionitem_team_valid"
            ),
            # Closed exactly when done or dropped.
            models.CheckConstraint(
                condition=models.Q(status=ItemStatus.OPEN, closed_at__isnull=True)
                | (~models.Q(status=ItemStatus.OPEN) & models.Q(closed_at__isnull=False)),
                name="actionitem_closed_when_not_open",
            ),
        ]
        indexes = [
            # The carry-over read: items still open, or closed since a given week began.
            models.Index(fields=["organization", "closed_at"], name="actionitem_carry_over"),
            models.Index(fields=["organization", "huddle"], name="actionitem_by_huddle"),
        ]

    def __str__(self) -> str:
        return self.title
