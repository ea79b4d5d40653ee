"""Browser pages of the tenancy core: login, organization home, members, settings, tokens."""

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from revops.tenancy import selectors, services, throttle
from revops.tenancy.access import organization_view
from revops.tenancy.authentication import SESSION_ORGANIZATION_KEY
from revops.tenancy.forms import (
    ApiTokenForm,
    InvitationForm,
    LoginForm,
    OrganizationSettingsForm,
    RoleForm,
    SignupForm,
)
from revops.tenancy.models import User


class LoginView(auth_views.LoginView):
    form_class = LoginForm
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        email = request.POST.get("username", "")
        address = request.META.get("REMOTE_ADDR", "")
        if throttle.login_is_throttled(email=email, client_address=address):
            form = self.get_form()
            form.errors.clear()
            form.add_error(None, "Too many failed attempts. Wait a few minutes and try again.")
            return self.render_to_response(self.get_context_data(form=form), status=429)
        response = super().post(request, *args, **kwargs)
        if request.user.is_authenticated:
            throttle.login_failures_clear(email=email, client_address=address)
        else:
            throttle.login_failure_record(email=email, client_address=address)
        return response


@login_required
def home(request):
    """Send the user to the organization they last worked in, or their first one."""
    memberships = list(selectors.memberships_for_user(user=request.user))
    if not memberships:
        return render(request, "tenancy/no_organization.html")
    last = request.session.get(SESSION_ORGANIZATION_KEY)
    slugs = [m.organization.slug for m in memberships]
    slug = last if last in slugs else sorted(slugs)[0]
    return redirect("organization_home", org_slug=slug)


@organization_view(admin_writes=True)
def organization_settings(request):
    organization = request.organization
    form = OrganizationSettingsForm(request.POST or None, instance=organization)
    if request.method == "POST" and form.is_valid():
        services.organization_update(
            organization=organization,
            name=form.cleaned_data["name"],
            timezone_name=form.cleaned_data["timezone"],
            currency=form.cleaned_data["currency"],
        )
        messages.success(request, "Settings saved.")
        return redirect("organization_settings", org_slug=organization.slug)
    return render(request, "tenancy/settings.html", {"form": form})


def _members_context(request, **extra):
    return {
        "members": selectors.organization_members(),
        "invitations": selectors.open_invitations() if request.membership.is_admin else [],
        "invite_form": InvitationForm(),
        "role_choices": RoleForm.base_fields["role"].choices,
        **extra,
    }


@organization_view(admin_writes=True)
def members(request):
    if request.method == "POST":
        form = InvitationForm(request.POST)
        if form.is_valid():
            try:
                _invitation, secret = services.invitation_create(
                    email=form.cleaned_data["email"],
                    role=form.cleaned_data["role"],
                    invited_by=request.user,
                )
            except ValidationError as error:
                form.add_error("email", error.message_dict.get("email", error.messages))
            else:
                return render(
                    request,
                    "tenancy/members.html",
                    _members_context(request, invitation_url=services.invitation_url(secret)),
                )
        return render(request, "tenancy/members.html", _members_context(request, invite_form=form))
    return render(request, "tenancy/members.html", _members_context(request))


def _scoped_or_404(queryset, pk):
    obj = queryset.filter(pk=pk).first()
    if obj is None:
        raise Http404
    return obj


@require_POST
@organization_view(admin_writes=True)
def member_role(request, membership_id: int):
    membership = _scoped_or_404(selectors.organization_members(), membership_id)
    form = RoleForm(request.POST)
    error = None
    if form.is_valid():
        try:
            services.membership_change_role(membership=membership, role=form.cleaned_data["role"])
        except ValidationError as exc:
            error = " ".join(exc.messages)
    else:
        error = "Choose a valid role."
    membership.refresh_from_db()
    if request.htmx:
        return render(
            request,
            "tenancy/_member_row.html",
            {
                "m": membership,
                "role_choices": RoleForm.base_fields["role"].choices,
                "row_error": error,
            },
        )
    if error:
        messages.error(request, error)
    return redirect("members", org_slug=request.organization.slug)


@require_POST
@organization_view(admin_writes=True)
def member_remove(request, membership_id: int):
    membership = _scoped_or_404(selectors.organization_members(), membership_id)
    try:
        services.membership_remove(membership=membership)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{membership.user.display_name} was removed.")
    return redirect("members", org_slug=request.organization.slug)


@require_POST
@organization_view(admin_writes=True)
def invitation_revoke(request, invitation_id: int):
    invitation = _scoped_or_404(selectors.open_invitations(), invitation_id)
    services.invitation_revoke(invitation=invitation)
    messages.success(request, f"The invitation for {invitation.email} was revoked.")
    return redirect("members", org_slug=request.organization.slug)


NEW_TOKEN_SESSION_KEY = "new_api_token"  # noqa: S105 (a session key name)


@organization_view(admin_writes=True, admin_reads=True)
def api_tokens(request):
    members_ = selectors.organization_members()
    form = ApiTokenForm(request.POST or None, members=members_, initial={"user": request.user.pk})
    if request.method == "POST" and form.is_valid():
        # The form's choices are this organization's members, so the lookup cannot miss.
        member = members_.get(user_id=form.cleaned_data["user"])
        _token, secret = services.api_token_create(
            user=member.user, name=form.cleaned_data["name"], created_by=request.user
        )
        # Post/redirect/get: a reload must not create a second token. The secret waits in the
        # session for exactly one page view.
        request.session[NEW_TOKEN_SESSION_KEY] = secret
        return redirect("api_tokens", org_slug=request.organization.slug)
    return render(
        request,
        "tenancy/api_tokens.html",
        {
            "tokens": selectors.api_tokens(),
            "form": form,
            "created_secret": request.session.pop(NEW_TOKEN_SESSION_KEY, None),
        },
    )


@require_POST
@organization_view(admin_writes=True, admin_reads=True)
def api_token_revoke(request, token_id: int):
    token = _scoped_or_404(selectors.api_tokens(), token_id)
    services.api_token_revoke(token=token)
    if request.htmx:
        return render(request, "tenancy/_token_row.html", {"token": token})
    messages.success(request, f"Token '{token.name}' was revoked.")
    return redirect("api_tokens", org_slug=request.organization.slug)


def invitation_accept(request, secret: str):
    """The emailed link: sign up (new address) or sign in and join (known address)."""
    invitation = selectors.invitation_by_secret(secret=secret)
    if invitation is None:
        raise Http404("No such invitation.")
    if not invitation.is_open(timezone.now()):
        return render(
            request,
            "tenancy/invitation.html",
            {"invitation": invitation, "closed": True},
            status=410,
        )
    existing = User.objects.filter(email__iexact=invitation.email).first()
    if existing is not None:
        if not request.user.is_authenticated:
            return redirect(f"{reverse('login')}?next={request.path}")
        if request.method == "POST":
            return _join(request, invitation, request.user)
        return render(request, "tenancy/invitation.html", {"invitation": invitation})
    form = SignupForm(request.POST or None, email=invitation.email)
    if request.method == "POST" and form.is_valid():
        user = services.user_create(
            email=invitation.email,
            password=form.cleaned_data["password"],
            full_name=form.cleaned_data["full_name"],
        )
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return _join(request, invitation, user)
    return render(request, "tenancy/invitation.html", {"invitation": invitation, "form": form})


def _join(request, invitation, user):
    try:
        services.invitation_accept(invitation=invitation, user=user)
    except ValidationError as exc:
        return render(
            request,
            "tenancy/invitation.html",
            {"invitation": invitation, "error": " ".join(exc.messages)},
            status=400,
        )
    messages.success(request, f"Welcome to {invitation.organization.name}.")
    return redirect("organization_home", org_slug=invitation.organization.slug)


@require_GET
def healthz(request):
    """For load balancers: the web process is up and reaches its database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
