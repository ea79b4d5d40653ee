from revops.tenancy import selectors


def tenancy(request):
    """The current organization, the user's role in it, and the switcher's list."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "organization": getattr(request, "organization", None),
        "membership": getattr(request, "membership", None),
        "switcher_memberships": selectors.memberships_for_user(user=user).order_by(
            "organization__name"
        ),
    }
