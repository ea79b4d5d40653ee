"""The metric input pages: spend, sales cost, gross margin and recomputes."""

from django.urls import path

from metrics import views

INPUTS = "o/<slug:org_slug>/metrics/inputs/"

urlpatterns = [
    path(INPUTS, views.spend_list, name="metrics_spend"),
    path(f"{INPUTS}spend/add/", views.spend_add, name="metrics_spend_add"),
    path(f"{INPUTS}spend/import/", views.spend_import, name="metrics_spend_import"),
    path(f"{INPUTS}spend/<int:spend_id>/delete/", views.spend_delete, name="metrics_spend_delete"),
    path(f"{INPUTS}sales-costs/", views.cost_list, name="metrics_costs"),
    path(f"{INPUTS}sales-costs/add/", views.cost_add, name="metrics_cost_add"),
    path(f"{INPUTS}sales-costs/import/", views.cost_import, name="metrics_cost_import"),
    path(
        f"{INPUTS}sales-costs/<int:cost_id>/delete/", views.cost_delete, name="metrics_cost_delete"
    ),
    path(f"{INPUTS}gross-margin/", views.gross_margin, name="metrics_gross_margin"),
    path(f"{INPUTS}recompute/", views.recompute, name="metrics_recompute"),
    path(f"{INPUTS}recompute/runs/", views.recompute_runs, name="metrics_recompute_runs"),
]
