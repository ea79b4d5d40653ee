"""The "Lead routing & scoring" settings page and the actions posted from it."""

from django.urls import path

from leads import settings_views as views
from leads.models import ScoringRuleKind

PAGE = "o/<slug:org_slug>/settings/leads/"

urlpatterns = [
    path(PAGE, views.lead_settings, name="lead_settings"),
    # Scoring rules: one add form per kind, since they set different fields.
    path(
        f"{PAGE}scoring-rules/fit/",
        views.scoring_rule_add,
        {"kind": ScoringRuleKind.FIT.value},
        name="lead_settings_fit_rule_add",
    ),
    path(
        f"{PAGE}scoring-rules/engagement/",
        views.scoring_rule_add,
        {"kind": ScoringRuleKind.ENGAGEMENT.value},
        name="lead_settings_engagement_rule_add",
    ),
    path(
        f"{PAGE}scoring-rules/<int:rule_id>/",
        views.scoring_rule_edit,
        name="lead_settings_scoring_rule_edit",
    ),
    path(
        f"{PAGE}scoring-rules/<int:rule_id>/active/",
        views.scoring_rule_active,
        name="lead_settings_scoring_rule_active",
    ),
    path(
        f"{PAGE}scoring-rules/<int:rule_id>/delete/",
        views.scoring_rule_delete,
        name="lead_settings_scoring_rule_delete",
    ),
    # Sales reps: added and changed, never deleted (their assignment rules would go with them).
    path(f"{PAGE}reps/", views.sales_rep_add, name="lead_settings_rep_add"),
    path(f"{PAGE}reps/<int:rep_id>/", views.sales_rep_edit, name="lead_settings_rep_edit"),
    path(
        f"{PAGE}reps/<int:rep_id>/accepting/",
        views.sales_rep_accepting,
        name="lead_settings_rep_accepting",
    ),
    path(
        f"{PAGE}assignment-rules/",
        views.assignment_rule_add,
        name="lead_settings_assignment_rule_add",
    ),
    path(
        f"{PAGE}assignment-rules/<int:rule_id>/",
        views.assignment_rule_edit,
        name="lead_settings_assignment_rule_edit",
    ),
    path(
        f"{PAGE}assignment-rules/<int:rule_id>/active/",
        views.assignment_rule_active,
        name="lead_settings_assignment_rule_active",
    ),
    path(
        f"{PAGE}assignment-rules/<int:rule_id>/delete/",
        views.assignment_rule_delete,
        name="lead_settings_assignment_rule_delete",
    ),
    # Reason lists: added and switched on or off, never renamed or deleted (history uses them).
    path(
        f"{PAGE}reasons/<int:reason_id>/active/",
        views.reason_active,
        name="lead_settings_reason_active",
    ),
    path(f"{PAGE}reasons/<slug:kind>/", views.reason_add, name="lead_settings_reason_add"),
]
