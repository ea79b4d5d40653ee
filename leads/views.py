"""Browser pages of the leads app: list, detail, rep queue, feedback inbox, campaigns, policy.

Views translate: they parse with forms, call services (every write) and selectors (reads), and
render. Roles: every member reads; `organization_view` refuses writes by viewers; the extra role
rules (marketing actions, owner actions) are checked here or by the services.
"""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Prefetch, prefetch_related_objects
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from leads import selectors, services
from leads.forms import (
    BulkAssignForm,
    CampaignForm,
    ConvertForm,
    ExitForm,
    FeedbackFilterForm,
    FeedbackResponseForm,
    ForceQualifyForm,
    LeadFilterForm,
    PolicyForm,
    RatingForm,
    ReasonForm,
    RejectForm,
    TouchForm,
    WinForm,
)
from leads.models import (
    ALLOWED_TRANSITIONS,
    AuthorityRole,
    QualificationPolicy,
    ReasonKind,
    Stage,
    TouchKind,
)
from leads.qualification import bant_evaluate
from revops.tenancy import selectors as tenancy_selectors
from revops.tenancy.access import organization_view
from revops.tenancy.models import Role
from sla import selectors as sla_selectors
from sla.models import SlaEvent, TimerTarget

PAGE_SIZE = 50
# Marketing's actions: mark MQLs, force-qualify, work the feedback inbox, create campaigns.
MARKETING_ROLES = frozenset({Role.ADMIN, Role.MARKETING})


# --- helpers ----------------------------------------------------------------------------------


def _require_role(request, roles) -> None:
    if request.membership.role not in roles:
        raise PermissionDenied("Your role does not allow this.")


def _is_owner_or_admin(request, lead) -> bool:
    return request.membership.can_write and services.may_act_as_owner(
        lead=lead, user=request.user, is_admin=request.membership.is_admin
    )


def _require_owner_or_admin(request, lead) -> None:
    # Checked before the form: a non-owner gets 403 whatever the body says, not a form error.
    if not request.membership.can_write:
        raise PermissionDenied("Your role does not allow this.")
    services.require_owner_or_admin(
        lead=lead, user=request.user, is_admin=request.membership.is_admin
    )


def _lead_or_404(lead_id: int):
    # The scoped manager: another organization's lead is exactly as absent as a missing one.
    lead = selectors.leads_list().filter(pk=lead_id).first()
    if lead is None:
        raise Http404("No such lead.")
    return lead


def _feedback_or_404(item_id: int):
    item = selectors.feedback_inbox().filter(pk=item_id).first()
    if item is None:
        raise Http404("No such feedback.")
    return item


def _sales_owners():
    """The people a lead can be given to: sales members (what `lead_reassign` accepts)."""
    return [m.user for m in tenancy_selectors.organization_members().filter(role=Role.SALES)]


def _campaigns():
    return list(selectors.campaigns())


def _errors(error: ValidationError) -> str:
    return " ".join(error.messages)


def _add_errors(form, error: ValidationError) -> None:
    """Put a service's field errors on the form's fields (or on the form when it has none)."""
    for field, messages_ in getattr(error, "message_dict", {"__all__": error.messages}).items():
        form.add_error(field if field in form.fields else None, messages_)


def _back(request, default: str):
    """Redirect to the page the action was posted from (the queue, the list...), else `default`.

    Only paths inside this organization qualify, so `next` cannot send anyone elsewhere.
    """
    target = request.POST.get("next", "")
    prefix = f"/o/{request.organization.slug}/"
    if target.startswith(prefix) and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect(default)


def _lead_url(request, lead) -> str:
    return reverse("lead_detail", args=[request.organization.slug, lead.pk])


def _attach_feedback_clocks(items) -> None:
    """Each feedback item's acknowledge and resolve SLA clocks (`item.sla_clocks`), one query."""
    by_item: dict[int, list] = {item.pk: [] for item in items}
    for timer in sla_selectors.timers().filter(feedback_id__in=list(by_item)):
        by_item[timer.feedback_id].append(timer)
    for item in items:
        item.sla_clocks = by_item[item.pk]


# --- lead list --------------------------------------------------------------------------------


@organization_view
def lead_list(request):
    owners = _sales_owners()
    campaigns = _campaigns()
    filters = LeadFilterForm(request.GET, owners=owners, campaigns=campaigns)
    page = Paginator(filters.filter(selectors.leads_list()), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "leads/lead_list.html",
        {
            "filters": filters,
            "page": page,
            "owners": owners,
            "may_assign": request.membership.role in MARKETING_ROLES,
        },
    )


@require_POST
@organization_view
def lead_bulk_assign(request):
    _require_role(request, MARKETING_ROLES)
    owners = _sales_owners()
    form = BulkAssignForm(request.POST, leads=selectors.leads_list(), owners=owners)
    default = reverse("lead_list", args=[request.organization.slug])
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return _back(request, default)
    owner = next(user for user in owners if user.pk == form.cleaned_data["owner"])
    leads = list(form.cleaned_data["leads"])
    try:
        with transaction.atomic():  # all or none: a half-applied bulk action confuses everyone
            for lead in leads:
                services.lead_reassign(lead=lead, owner=owner, actor=request.user)
    except ValidationError as error:
        messages.error(request, _errors(error))
    else:
        count = len(leads)
        messages.success(
            request, f"{count} lead{'s' if count != 1 else ''} assigned to {owner.display_name}."
        )
    return _back(request, default)


# --- lead detail and its actions ----------------------------------------------------------------


@organization_view
def lead_detail(request, lead_id: int):
    lead = selectors.lead_detail(lead_id)
    if lead is None:
        raise Http404("No such lead.")
    policy = services.policy_ensure()
    services.reasons_ensure_defaults()  # the reject / lose / rate forms need their lists
    role = request.membership.role
    may_act_as_owner = _is_owner_or_admin(request, lead)
    # The lead's SLA clocks with their stories (started, at risk, reassigned, paused...).
    sla_timers = sla_selectors.lead_timers(lead.pk)
    prefetch_related_objects(
        sla_timers,
        Prefetch("events", queryset=SlaEvent.objects.select_related("actor").order_by("at", "id")),
    )
    return render(
        request,
        "leads/lead_detail.html",
        {
            "lead": lead,
            "sla_timers": sla_timers,
            "sla_follow_up": next(
                (t for t in sla_timers if t.target == TimerTarget.FOLLOW_UP and t.is_open), None
            ),
            "sla_now": timezone.now(),
            "policy": policy,
            "bant": bant_evaluate(lead, policy),
            "may_mark_mql": role in MARKETING_ROLES
            and policy.mql_manual_marking
            and Stage.MQL in ALLOWED_TRANSITIONS[lead.stage],
            "may_force_qualify": role in MARKETING_ROLES and lead.stage == Stage.MQL,
            "may_accept": may_act_as_owner and lead.stage == Stage.SQL,
            "may_touch": may_act_as_owner,
            "may_convert": may_act_as_owner and lead.stage == Stage.ACCEPTED,
            "may_close": may_act_as_owner and lead.stage == Stage.OPPORTUNITY,
            "exits": [
                (stage, Stage(stage).label)
                for stage in (Stage.NURTURE, Stage.DISQUALIFIED)
                if stage in ALLOWED_TRANSITIONS[lead.stage]
            ]
            if request.membership.can_write
            else [],
            "loss_reasons": selectors.reasons(ReasonKind.LOSS),
            "may_rate": request.membership.can_write,
            "rejection_reasons": selectors.reasons(ReasonKind.REJECTION),
            "feedback_tags": selectors.reasons(ReasonKind.FEEDBACK),
            "touch_kinds": TouchKind.choices,
        },
    )


@require_POST
@organization_view
def lead_mark_mql(request, lead_id: int):
    _require_role(request, MARKETING_ROLES)
    lead = _lead_or_404(lead_id)
    form = ReasonForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        services.lead_mark_mql(lead=lead, actor=request.user, reason=reason)
    except ValidationError as error:
        messages.error(request, _errors(error))
    else:
        if lead.stage == Stage.SQL:
            owner = lead.owner.display_name if lead.owner else "nobody yet"
            messages.success(
                request, f"Marked as MQL. It meets the policy: handed to sales, owned by {owner}."
            )
        else:
            messages.success(request, "Marked as MQL.")
    return _back(request, _lead_url(request, lead))


@require_POST
@organization_view
def lead_force_qualify(request, lead_id: int):
    _require_role(request, MARKETING_ROLES)
    lead = _lead_or_404(lead_id)
    form = ForceQualifyForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(form.errors["reason"]))
        return _back(request, _lead_url(request, lead))
    try:
        services.lead_force_qualify(
            lead=lead, actor=request.user, reason=form.cleaned_data["reason"]
        )
    except ValidationError as error:
        messages.error(request, _errors(error))
    else:
        messages.success(request, "Force-qualified: handed to sales with your reason on record.")
    return _back(request, _lead_url(request, lead))


@require_POST
@organization_view
def lead_accept(request, lead_id: int):
    lead = _lead_or_404(lead_id)
    _require_owner_or_admin(request, lead)
    try:
        services.lead_accept(lead=lead, actor=request.user)
    except ValidationError as error:
        messages.error(request, _errors(error))
    else:
        messages.success(request, f"You accepted {lead}.")
    return _back(request, _lead_url(request, lead))


@require_POST
@organization_view
def lead_reject(request, lead_id: int):
    lead = _lead_or_404(lead_id)
    _require_owner_or_admin(request, lead)
    form = RejectForm(request.POST, reasons=selectors.reasons(ReasonKind.REJECTION))
    if not form.is_valid():
        messages.error(request, "Choose a rejection reason.")
        return _back(request, _lead_url(request, lead))
    try:
        services.lead_reject(
            lead=lead,
            actor=request.user,
            reason_id=form.cleaned_data["reason_id"],
            comment=form.cleaned_data["comment"],
        )
    except ValidationError as error:
        messages.error(request, _errors(error))
    else:
        messages.success(request, f"You rejected {lead}; marketing sees why in its inbox.")
    return _back(request, _lead_url(request, lead))


@require_POST
@organization_view
def lead_touch(request, lead_id: int):
    lead = _lead_or_404(lead_id)
    _require_owner_or_admin(request, lead)  # the owner's touches are what the SLA measures
    form = TouchForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose call, email or meeting.")
        return _back(request, _lead_url(request, lead))
    try:
        touch = services.touch_log(
            lead=lead,
            actor=request.user,
            kind=form.cleaned_data["kind"],
            note=form.cleaned_data["note"],
        )
    except ValidationError as error:
        messages.error(request, _errors(error))
    else:
        messages.success(request, f"{touch.get_kind_display()} logged for {lead}.")
    return _back(request, _lead_url(request, lead))


@require_POST
@organization_view
def lead_rate(request, lead_id: int):
    """The one-click rating. With htmx it answers the widget's replacement, no page reload."""
    lead = _lead_or_404(lead_id)
    tags = selectors.reasons(ReasonKind.FEEDBACK)
    form = RatingForm(request.POST, tags=tags)
    item, error = None, None
    if form.is_valid():
        try:
            item = services.feedback_rate(
                lead=lead,
                actor=request.user,
                rating=form.cleaned_data["rating"],
                tag_ids=form.cleaned_data["tag_ids"],
                comment=form.cleaned_data["comment"],
            )
        except ValidationError as exc:
            error = _errors(exc)
    else:
        error = " ".join(e for errors in form.errors.values() for e in errors)
    if request.htmx:
        return render(
            request,
            "leads/_rating.html",
            {"lead": lead, "rated": item, "rating_error": error, "feedback_tags": tags},
        )
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"Thanks — rated {item.rating}★.")
    return _back(request, _lead_url(request, lead))


# --- the rep's queue --------------------------------------------------------------------------


@organization_view
def rep_queue(request):
    services.reasons_ensure_defaults()  # the reject and rate forms need their lists
    page = Paginator(selectors.rep_queue(rep=request.user), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    page.object_list = list(page.object_list)
    clocks = sla_selectors.open_follow_ups(lead.pk for lead in page.object_list)
    for lead in page.object_list:
        lead.sla_timer = clocks.get(lead.pk)
    return render(
        request,
        "leads/queue.html",
        {
            "page": page,
            "sla_now": timezone.now(),
            # Fetched once for every row's forms.
            "rejection_reasons": list(selectors.reasons(ReasonKind.REJECTION)),
            "feedback_tags": list(selectors.reasons(ReasonKind.FEEDBACK)),
            "touch_kinds": TouchKind.choices,
            "may_rate": request.membership.can_write,
        },
    )


# --- the feedback inbox -----------------------------------------------------------------------


def _tag_labels() -> list[str]:
    # Rejections arrive tagged with their rejection reason, so both lists are filterable.
    labels = {r.label for r in selectors.reasons(ReasonKind.FEEDBACK)}
    labels |= {r.label for r in selectors.reasons(ReasonKind.REJECTION)}
    return sorted(labels)


@organization_view
def feedback_inbox(request):
    filters = FeedbackFilterForm(request.GET, campaigns=_campaigns(), tags=_tag_labels())
    page = Paginator(selectors.feedback_inbox(**filters.selector_kwargs()), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    page.object_list = list(page.object_list)
    _attach_feedback_clocks(page.object_list)
    return render(
        request,
        "leads/feedback_inbox.html",
        {
            "filters": filters,
            "page": page,
            "sla_now": timezone.now(),
            "may_manage": request.membership.role in MARKETING_ROLES,
        },
    )


def _feedback_answer(request, item, error: str | None, success: str):
    if request.htmx:
        _attach_feedback_clocks([item])
        return render(
            request,
            "leads/_feedback_item.html",
            {"item": item, "may_manage": True, "item_error": error},
        )
    if error:
        messages.error(request, error)
    else:
        messages.success(request, success)
    return _back(request, reverse("feedback_inbox", args=[request.organization.slug]))


@require_POST
@organization_view
def feedback_acknowledge(request, item_id: int):
    _require_role(request, MARKETING_ROLES)
    item = _feedback_or_404(item_id)
    form = FeedbackResponseForm(request.POST)
    response = form.cleaned_data["response"] if form.is_valid() else ""
    error = None
    try:
        services.feedback_acknowledge(item=item, actor=request.user, response=response)
    except ValidationError as exc:
        error = _errors(exc)
    return _feedback_answer(request, item, error, "Acknowledged.")


@require_POST
@organization_view
def feedback_resolve(request, item_id: int):
    _require_role(request, MARKETING_ROLES)
    item = _feedback_or_404(item_id)
    form = FeedbackResponseForm(request.POST)
    response = form.cleaned_data["response"] if form.is_valid() else ""
    error = None
    try:
        services.feedback_resolve(item=item, actor=request.user, response=response)
    except ValidationError as exc:
        error = _errors(exc)
    return _feedback_answer(request, item, error, "Resolved.")


# --- campaigns --------------------------------------------------------------------------------


@organization_view
def campaign_list(request):
    form = CampaignForm(request.POST or None)
    may_create = request.membership.role in MARKETING_ROLES
    if request.method == "POST":
        _require_role(request, MARKETING_ROLES)
        if form.is_valid():
            try:
                campaign = services.campaign_create(actor=request.user, **form.cleaned_data)
            except ValidationError as error:
                _add_errors(form, error)
            else:
                messages.success(request, f"Campaign '{campaign.name}' created.")
                return redirect("campaign_list", org_slug=request.organization.slug)
    return render(
        request,
        "leads/campaigns.html",
        {"campaigns": selectors.campaigns_with_counts(), "form": form, "may_create": may_create},
    )


# --- the qualification policy ------------------------------------------------------------------


@organization_view(admin_writes=True)
def qualification_policy(request):
    current = services.policy_ensure()
    preview = None
    if request.method == "POST":
        form = PolicyForm(request.POST)
        if form.is_valid():
            if request.POST.get("action") == "preview":
                # An unsaved version, counted in SQL like the real one: nothing is written.
                draft = QualificationPolicy(**form.policy_fields())
                preview = selectors.policy_would_qualify(draft)
            else:
                try:
                    policy = services.policy_create_version(
                        actor=request.user,
                        change_note=form.cleaned_data["change_note"],
                        **form.policy_fields(),
                    )
                except ValidationError as error:
                    _add_errors(form, error)
                else:
                    messages.success(request, f"Saved as version {policy.version}.")
                    return redirect("qualification_policy", org_slug=request.organization.slug)
    else:
        form = PolicyForm(initial=PolicyForm.initial_from(current))
    history = list(selectors.policy_history())
    for version in history:
        version.authority_labels = ", ".join(
            AuthorityRole(r).label for r in version.authority_roles
        )
    return render(
        request,
        "leads/qualification.html",
        {
            "current": history[0] if history else current,
            "history": history,
            "would_qualify": selectors.policy_would_qualify(current),
            "form": form,
            "preview": preview,
            "next_version": current.version + 1,
        },
    )


# --- deals and exits --------------------------------------------------------------------------


def _form_failed(form) -> str:
    return " ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())


@require_POST
@organization_view
def lead_convert(request, lead_id: int):
    lead = _lead_or_404(lead_id)
    _require_owner_or_admin(request, lead)
    form = ConvertForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_failed(form))
        return redirect(_lead_url(request, lead))
    try:
        services.lead_convert(lead=lead, actor=request.user, **form.cleaned_data)
    except ValidationError as error:
        messages.error(request, _errors(error))
    else:
        messages.success(request, f"{lead} is now an opportunity.")
    return redirect(_lead_url(request, lead))


@require_POST
@organization_view
def lead_close(request, lead_id: int, outcome: str):
    """Win or lose the lead's open opportunity."""
    lead = _lead_or_404(lead_id)
    _require_owner_or_admin(request, lead)
    opportunity = selectors.open_opportunity(lead=lead)
    if opportunity is None:
        raise Http404("No open opportunity.")
    try:
        if outcome == "win":
            form = WinForm(request.POST)
            if not form.is_valid():
                raise ValidationError(_form_failed(form))
            services.opportunity_win(
                opportunity=opportunity, actor=request.user, value=form.cleaned_data["value"]
            )
            messages.success(request, f"Won: {opportunity.name}.")
        else:
            reason_id = request.POST.get("reason_id", "")
            services.opportunity_lose(
                opportunity=opportunity, actor=request.user,
                reason_id=int(reason_id) if reason_id.isdigit() else None,
            )  # fmt: skip
            messages.success(request, f"Lost: {opportunity.name}.")
    except ValidationError as error:
        messages.error(request, _errors(error))
    return redirect(_lead_url(request, lead))


@require_POST
@organization_view
def lead_exit(request, lead_id: int):
    """Send a lead to nurture (back to marketing) or disqualify it, with the reason."""
    lead = _lead_or_404(lead_id)
    form = ExitForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose nurture or disqualify and write the reason.")
        return redirect(_lead_url(request, lead))
    try:
        services.lead_transition(
            lead=lead, to_stage=form.cleaned_data["to_stage"], actor=request.user,
            reason=form.cleaned_data["reason"],
        )  # fmt: skip
    except ValidationError as error:
        messages.error(request, _errors(error))
    else:
        messages.success(request, f"{lead} moved to {lead.get_stage_display()}.")
    return redirect(_lead_url(request, lead))
