"""The "Lead routing & scoring" settings page: scoring rules, sales reps, assignment rules and
reason lists, each a table with an add form. Every member reads it; RevOps admins change it
(`organization_view(admin_writes=True)` answers 403 to anyone else's POST).

Views translate: forms parse, `leads.config_services` validates and writes. A write that
succeeds redirects back to its section; a refused one re-renders the whole page with status 400,
the error beside the field that caused it, and nothing saved. One row at a time is edited in
place (`?edit=scoring-12`), so the tables stay readable.
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from leads import config_services, services
from leads.models import (
    AssignmentRule,
    Lead,
    Reason,
    ReasonKind,
    SalesRep,
    ScoringRule,
    ScoringRuleKind,
    Stage,
)
from leads.settings_forms import (
    ActiveForm,
    AssignmentRuleEditForm,
    AssignmentRuleForm,
    EngagementRuleForm,
    FitRuleForm,
    ReasonForm,
    SalesRepAddForm,
    SalesRepEditForm,
    ScoringRuleEditForm,
)
from revops.tenancy import selectors as tenancy_selectors
from revops.tenancy.access import organization_view
from revops.tenancy.models import Role

RESCORING = "Open leads are being rescored in the background."

# Page sections: anchor and title. Forms and rows name the section they belong to.
SECTIONS = {
    "scoring": "Scoring rules",
    "reps": "Sales reps",
    "assignment": "Assignment rules",
    "reasons": "Reason lists",
}
FORM_SECTIONS = {
    "fit": "scoring", "engagement": "scoring", "rep": "reps", "assignment": "assignment",
    **{kind: "reasons" for kind in ReasonKind.values},
}  # fmt: skip
ROW_SECTIONS = {"scoring": "scoring", "rep": "reps", "assignment": "assignment",
                "reason": "reasons"}  # fmt: skip
EDITABLE_ROWS = ("scoring", "rep", "assignment")  # reasons are added and toggled, not edited


# --- reads (one query each, whatever the number of rows) ---------------------------------------


def _scoring_rules() -> list[ScoringRule]:
    return list(ScoringRule.objects.order_by("kind", "attribute", "value", "event_kind", "id"))


def _sales_reps() -> list[SalesRep]:
    return list(
        SalesRep.objects.select_related("user", "manager").order_by(
            "user__full_name", "user__email"
        )
    )


def _sales_members():
    return tenancy_selectors.organization_members().filter(role=Role.SALES)


def _managers():
    """Who may manage a rep: any active member, whatever their role."""
    return tenancy_selectors.organization_members().filter(user__is_active=True)


def _open_sqls_by_owner() -> dict[int, int]:
    """SQLs waiting on each owner: what a rep's capacity is measured against."""
    rows = (
        Lead.objects.filter(stage=Stage.SQL, owner__isnull=False)
        .values("owner_id")
        .annotate(open=Count("id"))
    )
    return {row["owner_id"]: row["open"] for row in rows}


def _assignment_rules() -> list[AssignmentRule]:
    return list(AssignmentRule.objects.select_related("rep__user").order_by("priority", "id"))


def _reasons() -> list[Reason]:
    return list(Reason.objects.order_by("kind", "label"))


def _row_or_404(queryset, pk: int):
    # Scoped managers: another organization's row is exactly as absent as a missing one.
    row = queryset.filter(pk=pk).first()
    if row is None:
        raise Http404("No such row.")
    return row


# --- rendering --------------------------------------------------------------------------------


def _edit_form(section: str, row, *, reps, managers):
    """The form opened on `row` by its Edit link, filled with the row's values."""
    if section == "scoring":
        initial = {"value": row.value, "points": row.points, "half_life_days": row.half_life_days}
        return ScoringRuleEditForm(initial=initial)
    if section == "rep":
        initial = {name: getattr(row, name) for name in ("capacity", "territory", "team")}
        return SalesRepEditForm(
            rep=row, managers=managers, initial=initial | {"manager": row.manager_id}
        )
    initial = {
        name: getattr(row, name)
        for name in ("priority", "industry", "company_size_min", "company_size_max", "territory")
    }
    return AssignmentRuleEditForm(reps=reps, initial=initial | {"rep": row.rep_id})


def _render(request, *, status: int = 200, forms=None, edit=None, row_error=None):
    """The whole page. `forms` replaces blank add forms by refused ones (keyed as in
    FORM_SECTIONS); `edit` is (row kind, pk, form or None); `row_error` is (row kind, pk, text).
    """
    forms = forms or {}

    def shown(key: str, blank):
        """The refused form under `key` (to show its errors), else a blank one."""
        return forms[key] if key in forms else blank()

    may_edit = request.membership.is_admin
    rules = _scoring_rules()
    reps = _sales_reps()
    # One read for both lists: sales members (who may become reps) and managers (anyone active).
    everyone = list(tenancy_selectors.organization_members())
    members = [m for m in everyone if m.role == Role.SALES]
    managers = [m for m in everyone if m.user.is_active]
    open_sqls = _open_sqls_by_owner()
    assignment_rules = _assignment_rules()
    reasons = _reasons()

    # Each row's name, for the accessible names of its repeated Edit / Deactivate / Delete.
    for rule in rules:
        target = (
            f"{rule.get_attribute_display()} {rule.value}"
            if rule.kind == ScoringRuleKind.FIT
            else rule.get_event_kind_display()
        )
        rule.name = f"{target} rule"
    for rule in assignment_rules:
        rule.name = f"priority {rule.priority} rule for {rule.rep.user.display_name}"
    for reason in reasons:
        reason.name = reason.label

    sales_ids = {m.user_id for m in members}
    rep_user_ids = {rep.user_id for rep in reps}
    for rep in reps:
        rep.name = rep.user.display_name
        rep.open_sqls = open_sqls.get(rep.user_id, 0)
        rep.in_sales = rep.user_id in sales_ids
    candidates = [m for m in members if m.user_id not in rep_user_ids]

    rows = {
        "scoring": rules,
        "rep": reps,
        "assignment": assignment_rules,
        "reason": reasons,
    }
    if edit is not None and may_edit:
        kind, pk, edit_form = edit
        row = next((r for r in rows[kind] if r.pk == pk), None)
        if row is not None:
            row.edit_form = edit_form or _edit_form(kind, row, reps=reps, managers=managers)
    if row_error is not None:
        kind, pk, text = row_error
        row = next((r for r in rows[kind] if r.pk == pk), None)
        if row is not None:
            row.row_error = text

    error_section = None
    if status >= 400:
        if forms:
            error_section = FORM_SECTIONS[next(iter(forms))]
        else:
            error_section = ROW_SECTIONS[(edit or row_error)[0]]
        for refused in [*forms.values(), edit[2] if edit else None]:
            if refused is not None:
                _focus_first_error(refused)

    by_kind: dict[str, list[Reason]] = {kind: [] for kind in ReasonKind.values}
    for reason in reasons:
        by_kind.setdefault(reason.kind, []).append(reason)
    reason_lists = [
        {
            "kind": kind,
            "label": label,
            "reasons": by_kind[kind],
            "form": shown(kind, lambda kind=kind: ReasonForm(prefix=kind)),
            "testid": f"reasons-{kind}",
        }
        for kind, label in ReasonKind.choices
    ]
    context = {
        "may_edit": may_edit,
        "fit_rules": [r for r in rules if r.kind == ScoringRuleKind.FIT],
        "engagement_rules": [r for r in rules if r.kind == ScoringRuleKind.ENGAGEMENT],
        "fit_form": shown("fit", lambda: FitRuleForm(prefix="fit")),
        "engagement_form": shown("engagement", lambda: EngagementRuleForm(prefix="engagement")),
        "reps": reps,
        "rep_form": shown(
            "rep", lambda: SalesRepAddForm(prefix="rep", members=candidates, managers=managers)
        ),
        "assignment_rules": assignment_rules,
        "assignment_form": shown(
            "assignment", lambda: AssignmentRuleForm(prefix="assignment", reps=reps)
        ),
        "reason_lists": reason_lists,
        "sections": SECTIONS,
        "error_section": error_section,
        "error_section_title": SECTIONS.get(error_section, ""),
    }
    return render(request, "leads/settings_page.html", context, status=status)


def _focus_first_error(form) -> None:
    """Open the refused page at the field to fix (the browser scrolls to an autofocus input)."""
    name = next((name for name in form.errors if name in form.fields), None)
    if name is not None:
        form.fields[name].widget.attrs["autofocus"] = True


def _done(request, section: str, message: str):
    messages.success(request, message)
    url = reverse("lead_settings", args=[request.organization.slug])
    return redirect(f"{url}#{section}")


def _add_errors(form, error: ValidationError) -> None:
    """Put a service's field errors on the form's fields (or on the form when it has none)."""
    for field, texts in getattr(error, "message_dict", {"__all__": error.messages}).items():
        form.add_error(field if field in form.fields else None, texts)


def _text(error: ValidationError) -> str:
    return " ".join(error.messages)


def _requested_edit(request):
    """`?edit=assignment-7`: which row an admin opened for editing, if any."""
    kind, _, pk = request.GET.get("edit", "").partition("-")
    if kind in EDITABLE_ROWS and pk.isdigit():
        return (kind, int(pk), None)
    return None


def _toggle(request, *, kind: str, row, update, on: str, off: str):
    """Switch a row on or off through `update(active)`; a refusal shows in the row."""
    form = ActiveForm(request.POST)
    if not form.is_valid():
        return _render(request, status=400, row_error=(kind, row.pk, "Say on or off."))
    active = form.cleaned_data["active"]
    try:
        update(active)
    except ValidationError as error:
        return _render(request, status=400, row_error=(kind, row.pk, _text(error)))
    return _done(request, ROW_SECTIONS[kind], on if active else off)


# --- the page ---------------------------------------------------------------------------------


@organization_view(admin_writes=True)
@require_safe
def lead_settings(request):
    # As the policy page does with `policy_ensure`: a new organization starts from the usual
    # reason lists, and a first hand-added label cannot keep the defaults from ever appearing.
    services.reasons_ensure_defaults()
    edit = _requested_edit(request) if request.membership.is_admin else None
    return _render(request, edit=edit)


# --- scoring rules ----------------------------------------------------------------------------


@organization_view(admin_writes=True)
@require_POST
def scoring_rule_add(request, kind: str):
    form_class = FitRuleForm if kind == ScoringRuleKind.FIT else EngagementRuleForm
    form = form_class(request.POST, prefix=kind)
    if form.is_valid():
        try:
            config_services.scoring_rule_create(kind=kind, **form.cleaned_data)
        except ValidationError as error:
            _add_errors(form, error)
        else:
            return _done(request, "scoring", f"Scoring rule added. {RESCORING}")
    return _render(request, status=400, forms={kind: form})


@organization_view(admin_writes=True)
@require_POST
def scoring_rule_edit(request, rule_id: int):
    rule = _row_or_404(ScoringRule.objects, rule_id)
    form = ScoringRuleEditForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        # A rule keeps its kind and target; only what that kind uses is changed.
        changes = {"points": data["points"]}
        if rule.kind == ScoringRuleKind.FIT:
            changes["value"] = data["value"]
        else:
            changes["half_life_days"] = data["half_life_days"]
        try:
            config_services.scoring_rule_update(rule=rule, **changes)
        except ValidationError as error:
            _add_errors(form, error)
        else:
            return _done(request, "scoring", f"Scoring rule saved. {RESCORING}")
    return _render(request, status=400, edit=("scoring", rule.pk, form))


@organization_view(admin_writes=True)
@require_POST
def scoring_rule_active(request, rule_id: int):
    rule = _row_or_404(ScoringRule.objects, rule_id)
    return _toggle(
        request,
        kind="scoring",
        row=rule,
        update=lambda active: config_services.scoring_rule_update(rule=rule, active=active),
        on=f"Scoring rule reactivated. {RESCORING}",
        off=f"Scoring rule deactivated. {RESCORING}",
    )


@organization_view(admin_writes=True)
@require_POST
def scoring_rule_delete(request, rule_id: int):
    rule = _row_or_404(ScoringRule.objects, rule_id)
    config_services.scoring_rule_delete(rule=rule)
    return _done(request, "scoring", f"Scoring rule deleted. {RESCORING}")


# --- sales reps -------------------------------------------------------------------------------


@organization_view(admin_writes=True)
@require_POST
def sales_rep_add(request):
    rep_user_ids = SalesRep.objects.values("user_id")
    candidates = _sales_members().exclude(user_id__in=rep_user_ids)
    form = SalesRepAddForm(request.POST, prefix="rep", members=candidates, managers=_managers())
    if form.is_valid():
        try:
            rep = config_services.sales_rep_save(**form.service_values())
        except ValidationError as error:
            _add_errors(form, error)
        else:
            return _done(request, "reps", f"{rep.user.display_name} is now a sales rep.")
    return _render(request, status=400, forms={"rep": form})


@organization_view(admin_writes=True)
@require_POST
def sales_rep_edit(request, rep_id: int):
    rep = _row_or_404(SalesRep.objects.select_related("user"), rep_id)
    form = SalesRepEditForm(request.POST, rep=rep, managers=_managers())
    if form.is_valid():
        try:
            config_services.sales_rep_save(rep=rep, **form.service_values())
        except ValidationError as error:
            _add_errors(form, error)
        else:
            return _done(request, "reps", f"Saved {rep.user.display_name}'s settings.")
    return _render(request, status=400, edit=("rep", rep.pk, form))


@organization_view(admin_writes=True)
@require_POST
def sales_rep_accepting(request, rep_id: int):
    rep = _row_or_404(SalesRep.objects.select_related("user"), rep_id)
    name = rep.user.display_name
    return _toggle(
        request,
        kind="rep",
        row=rep,
        update=lambda active: config_services.sales_rep_save(rep=rep, accepting_leads=active),
        on=f"{name} takes new leads again.",
        off=f"{name} gets no new leads until resumed.",
    )


# --- assignment rules -------------------------------------------------------------------------


@organization_view(admin_writes=True)
@require_POST
def assignment_rule_add(request):
    form = AssignmentRuleForm(request.POST, prefix="assignment", reps=_sales_reps())
    if form.is_valid():
        try:
            config_services.assignment_rule_create(**form.service_values())
        except ValidationError as error:
            _add_errors(form, error)
        else:
            return _done(request, "assignment", "Assignment rule added.")
    return _render(request, status=400, forms={"assignment": form})


@organization_view(admin_writes=True)
@require_POST
def assignment_rule_edit(request, rule_id: int):
    rule = _row_or_404(AssignmentRule.objects, rule_id)
    form = AssignmentRuleEditForm(request.POST, reps=_sales_reps())
    if form.is_valid():
        try:
            config_services.assignment_rule_update(rule=rule, **form.service_values())
        except ValidationError as error:
            _add_errors(form, error)
        else:
            return _done(request, "assignment", "Assignment rule saved.")
    return _render(request, status=400, edit=("assignment", rule.pk, form))


@organization_view(admin_writes=True)
@require_POST
def assignment_rule_active(request, rule_id: int):
    rule = _row_or_404(AssignmentRule.objects, rule_id)
    return _toggle(
        request,
        kind="assignment",
        row=rule,
        update=lambda active: config_services.assignment_rule_update(rule=rule, active=active),
        on="Assignment rule reactivated.",
        off="Assignment rule deactivated.",
    )


@organization_view(admin_writes=True)
@require_POST
def assignment_rule_delete(request, rule_id: int):
    rule = _row_or_404(AssignmentRule.objects, rule_id)
    config_services.assignment_rule_delete(rule=rule)
    return _done(request, "assignment", "Assignment rule deleted.")


# --- reason lists -----------------------------------------------------------------------------


@organization_view(admin_writes=True)
@require_POST
def reason_add(request, kind: str):
    if kind not in ReasonKind.values:
        raise Http404("No such reason list.")
    form = ReasonForm(request.POST, prefix=kind)
    if form.is_valid():
        try:
            reason = config_services.reason_add(kind=kind, label=form.cleaned_data["label"])
        except ValidationError as error:
            _add_errors(form, error)
        else:
            return _done(request, "reasons", f"“{reason.label}” added.")
    return _render(request, status=400, forms={kind: form})


@organization_view(admin_writes=True)
@require_POST
def reason_active(request, reason_id: int):
    reason = _row_or_404(Reason.objects, reason_id)
    return _toggle(
        request,
        kind="reason",
        row=reason,
        update=lambda active: config_services.reason_set_active(reason=reason, active=active),
        on=f"“{reason.label}” is offered again.",
        off=f"“{reason.label}” is no longer offered.",
    )
