import hashlib
import secrets
import zoneinfo

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from revops.tenancy.context import TenantScopeError, current_organization_or_none

CURRENCY_CHOICES = [
    (code, code)
    for code in [
        "USD",
        "EUR",
        "GBP",
        "CAD",
        "AUD",
        "NZD",
        "CHF",
        "JPY",
        "CNY",
        "INR",
        "BRL",
        "MXN",
        "SEK",
        "NOK",
        "DKK",
        "PLN",
        "CZK",
        "HUF",
        "ZAR",
        "SGD",
        "HKD",
        "KRW",
        "ILS",
        "AED",
        "SAR",
        "TRY",
        "IDR",
        "THB",
        "MYR",
        "PHP",
        "CLP",
        "COP",
        "ARS",
    ]
]


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"'{value}' is not a known IANA time zone (e.g. Europe/Berlin).")


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra):
        if not email:
            raise ValueError("Users need an email address.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person. Users are global; what they may see comes from their memberships."""

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="May use the Django admin.")
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    def __str__(self) -> str:
        return self.full_name or self.email

    @property
    def display_name(self) -> str:
        return self.full_name or self.email


class Organization(models.Model):
    """The tenant. Every tenant-owned row points here."""

    name = models.CharField(max_length=120)
    slug = models.SlugField(
        max_length=60,
        unique=True,
        validators=[RegexValidator(r"^[a-z0-9][a-z0-9-]*$", "Lower-case letters, digits, dashes.")],
    )
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    currency = models.CharField(max_length=3, default="USD", choices=CURRENCY_CHOICES)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TenantManager(models.Manager):
    """Default manager of tenant-owned models: fails closed without a current organization.

    Crossing tenants is possible only through the two greppable escape hatches below, meant for
    sweeps, authentication lookups and the Django admin.
    """

    def get_queryset(self):
        organization = current_organization_or_none()
        if organization is None:
            raise TenantScopeError(
                f"{self.model.__name__} queried outside an organization scope. Enter "
                "organization_scope(org), or use .for_organization(org) / .unscoped() on purpose."
            )
        return super().get_queryset().filter(organization=organization)

    def for_organization(self, organization):
        """ESCAPE HATCH: one named organization's rows, whatever the current scope."""
        return super().get_queryset().filter(organization=organization)

    def unscoped(self):
        """ESCAPE HATCH: every organization's rows. Sweeps and admin only."""
        return super().get_queryset()


class TenantModel(models.Model):
    """Abstract base of every tenant-owned model.

    Indexes and unique constraints on subclasses start with `organization` so the tables can be
    distributed by organization (Citus) later.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantManager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        scope = current_organization_or_none()
        if self.organization_id is None:
            if scope is None:
                raise TenantScopeError(f"{type(self).__name__} saved without an organization.")
            self.organization = scope
        elif scope is not None and scope.pk != self.organization_id:
            raise TenantScopeError(
                f"{type(self).__name__} of organization {self.organization_id} written inside "
                f"the scope of organization {scope.pk}."
            )
        self._refuse_references_across_organizations()
        super().save(*args, **kwargs)

    def _refuse_references_across_organizations(self) -> None:
        """A row may point only at its own organization's rows. Checked on the related objects
        already loaded (services pass objects, not ids), so it costs no query."""
        for field in self._meta.concrete_fields:
            if not (field.many_to_one and issubclass(field.related_model, TenantModel)):
                continue
            related = field.get_cached_value(self, default=None)
            if related is not None and related.organization_id != self.organization_id:
                raise TenantScopeError(
                    f"{type(self).__name__}.{field.name} points at a {type(related).__name__} of "
                    f"organization {related.organization_id}, not {self.organization_id}."
                )


class Role(models.TextChoices):
    ADMIN = "admin", "RevOps admin"
    MARKETING = "marketing", "Marketing"
    SALES = "sales", "Sales"
    VIEWER = "viewer", "Viewer"


class Membership(TenantModel):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    role = models.CharField(max_length=16, choices=Role.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="membership_unique_user"),
            models.CheckConstraint(
                condition=models.Q(role__in=Role.values), name="membership_role_valid"
            ),
        ]
        indexes = [
            # Login and the organization switcher list a user's memberships across organizations.
            models.Index(fields=["user"], name="membership_by_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_role_display()})"

    @property
    def can_write(self) -> bool:
        return self.role != Role.VIEWER

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiToken(TenantModel):
    """A per-user, per-organization credential. Only its SHA-256 digest is stored."""

    PREFIX = "rvh_"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    name = models.CharField(max_length=80)
    # The first characters of the token, shown in lists so people can tell tokens apart.
    hint = models.CharField(max_length=16)
    digest = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Unique keys include the organization so the table can be distributed by it.
            models.UniqueConstraint(
                fields=["organization", "digest"], name="apitoken_unique_digest"
            ),
        ]
        indexes = [
            # Bearer authentication finds the token before it knows the organization.
            models.Index(fields=["digest"], name="apitoken_by_digest"),
            models.Index(fields=["organization", "user"], name="apitoken_by_org_user"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.hint}…)"

    @classmethod
    def generate_secret(cls) -> str:
        return cls.PREFIX + secrets.token_urlsafe(32)

    @staticmethod
    def digest_of(secret: str) -> str:
        return _digest(secret)

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class Invitation(TenantModel):
    """An admin's invitation for an email address to join with a role."""

    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices)
    digest = models.CharField(max_length=64)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role__in=Role.values), name="invitation_role_valid"
            ),
            models.UniqueConstraint(
                fields=["organization", "digest"], name="invitation_unique_digest"
            ),
        ]
        indexes = [
            # The emailed link finds the invitation before it knows the organization.
            models.Index(fields=["digest"], name="invitation_by_digest"),
            models.Index(fields=["organization", "email"], name="invitation_by_org_email"),
        ]

    def __str__(self) -> str:
        return f"{self.email} as {self.role}"

    @staticmethod
    def digest_of(secret: str) -> str:
        return _digest(secret)

    def is_open(self, now) -> bool:
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > now
