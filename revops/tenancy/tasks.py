from django.core.mail import send_mail

from revops.tenancy.jobs import tenant_task
from revops.tenancy.models import Invitation, Organization


@tenant_task(idempotent=False, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def invitation_send_email(organization: Organization, invitation_id: int, url: str) -> str:
    """Email an invitation link. Not idempotent (a re-run sends a second email), so acked early."""
    invitation = Invitation.objects.select_related("invited_by").get(pk=invitation_id)
    inviter = invitation.invited_by.display_name if invitation.invited_by else "A RevOps admin"
    send_mail(
        subject=f"You are invited to {organization.name} on RevOps Hub",
        message=(
            f"{inviter} invited you to join {organization.name} on RevOps Hub as "
            f"{invitation.get_role_display()}.\n\nAccept the invitation: {url}\n\n"
            f"The link expires on {invitation.expires_at:%Y-%m-%d %H:%M} UTC."
        ),
        from_email=None,
        recipient_list=[invitation.email],
    )
    return invitation.email
