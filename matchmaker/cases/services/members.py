"""Institution admins manage their members: add (by invitation), change roles, (de)activate.

Every operation checks that `by` is an active admin of the member's institution, and none may
leave an institution without an active admin: nobody could manage its members any more except
the node's staff. The institution row is locked while the admins are counted, so two admins
demoting each other at the same moment cannot both succeed.

An institution admin manages only plain members: a member who is also one of the node's staff
or a superuser has an account that reaches beyond the institution (the admin, every institution's
data there), so only the node's administrators change it, in the admin. Deactivation switches off
the global account (`User.is_active`); that is the institution's to do because a user belongs to
at most one institution (`Membership.user` is one-to-one). Should a user ever belong to several,
deactivating must become a property of the membership, not of the account, or the admin of one
institution would lock the user out of the others.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.contrib.auth.tokens import default_token_generator
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from matchmaker.cases.models import Institution, Membership
from matchmaker.lib.errors import DomainError, FieldValidationError, PermissionDeniedError

_NAME_MAX_LENGTH = 150  # django.contrib.auth's first_name / last_name columns


def _require_admin_of(institution: Institution, by: AbstractBaseUser | AnonymousUser) -> Membership:
    if by.is_authenticated and by.is_active:
        membership = Membership.objects.filter(user_id=by.pk, institution=institution).first()
        if membership is not None and membership.role == Membership.Role.ADMIN:
            return membership
    raise PermissionDeniedError(f"only an admin of {institution.name} may manage its members")


def _require_plain_member(membership: Membership) -> None:
    user = membership.user
    if user.is_staff or user.is_superuser:
        raise PermissionDeniedError(
            f"{user.get_username()} is one of this node's administrators: the node's "
            "administrators manage this account, not the institution"
        )


def _lock_institution(institution: Institution) -> None:
    # Serialises member changes per institution (a no-op lock on SQLite, whose writers queue).
    Institution.objects.select_for_update().filter(pk=institution.pk).first()


def _other_active_admins(membership: Membership) -> int:
    return (
        Membership.objects.filter(
            institution_id=membership.institution_id,
            role=Membership.Role.ADMIN,
            user__is_active=True,
        )
        .exclude(pk=membership.pk)
        .count()
    )


@transaction.atomic
def add_member(
    institution: Institution,
    *,
    username: str,
    email: str,
    first_name: str = "",
    last_name: str = "",
    role: str = Membership.Role.CLINICIAN,
    by: AbstractBaseUser | AnonymousUser,
) -> Membership:
    """Create a user in `institution` with no usable password; `send_invitation` lets them set one.

    Raises `FieldValidationError` naming `username`, `email`, `first_name`, `last_name` or `role`
    (nothing is written then), and `PermissionDeniedError` when `by` is not an admin here.
    A username or e-mail address is refused when any user of the node has it, in any letter case:
    the password-reset form finds accounts by e-mail, and "Alice" and "alice" are one person.
    """
    _require_admin_of(institution, by)
    user_model = get_user_model()
    username, email = username.strip(), email.strip()
    first_name, last_name = first_name.strip(), last_name.strip()
    errors: list[tuple[str, str]] = []
    if not username:
        errors.append(("username", "is required"))
    else:
        try:
            UnicodeUsernameValidator()(username)
        except ValidationError:
            errors.append(
                ("username", "may contain only letters, digits and the characters @ . + - _")
            )
        if len(username) > _NAME_MAX_LENGTH:
            errors.append(("username", f"is longer than {_NAME_MAX_LENGTH} characters"))
        elif user_model.objects.filter(username__iexact=username).exists():
            errors.append(("username", f"{username!r} is taken; choose another"))
    if not email:
        errors.append(("email", "is required: the invitation is sent there"))
    else:
        try:
            validate_email(email)
        except ValidationError:
            errors.append(("email", f"{email!r} is not an e-mail address"))
        else:
            if user_model.objects.filter(email__iexact=email).exists():
                errors.append(("email", "another account already uses this address"))
    for field, value in (("first_name", first_name), ("last_name", last_name)):
        if len(value) > _NAME_MAX_LENGTH:
            errors.append((field, f"is longer than {_NAME_MAX_LENGTH} characters"))
    if role not in Membership.Role.values:
        errors.append(("role", f"must be one of {', '.join(Membership.Role.values)}"))
    if errors:
        raise FieldValidationError(errors)

    user = user_model(username=username, email=email, first_name=first_name, last_name=last_name)
    user.set_unusable_password()
    user.save()
    return Membership.objects.create(user=user, institution=institution, role=role)


def send_invitation(membership: Membership, *, base_url: str) -> None:
    """E-mail the member a one-time link to set their password (valid PASSWORD_RESET_TIMEOUT).

    `base_url` is the node's address as the member's browser reaches it ("https://mm.example.org").
    The link is Django's password-reset link, so it stops working once a password is set and
    whenever the user logs in. Mail server failures propagate (`OSError`, `SMTPException`).
    Refused (`PermissionDeniedError`) for the node's staff and superusers: a reset link for an
    account that opens the admin is not the institution's to send.
    """
    user = membership.user
    _require_plain_member(membership)
    if not user.email:
        raise DomainError("this member has no e-mail address", field="email")
    if not user.is_active:
        raise DomainError("this member is deactivated; reactivate them first", field="is_active")
    path = reverse(
        "password_reset_confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    context = {"user": user, "institution": membership.institution, "link": base_url + path}
    subject = render_to_string("web/members/invitation_subject.txt", context).strip()
    body = render_to_string("web/members/invitation_email.txt", context)
    send_mail(subject, body, None, [user.email])


@transaction.atomic
def change_member_role(
    membership: Membership, *, role: str, by: AbstractBaseUser | AnonymousUser
) -> Membership:
    """Make a member a clinician or an admin of their institution.

    Refused (`FieldValidationError` on `role`) when it would leave no active admin.
    """
    _require_admin_of(membership.institution, by)
    _require_plain_member(membership)
    if role not in Membership.Role.values:
        raise FieldValidationError(
            [("role", f"must be one of {', '.join(Membership.Role.values)}")]
        )
    _lock_institution(membership.institution)
    membership.refresh_from_db()
    if role == membership.role:
        return membership
    if (
        membership.role == Membership.Role.ADMIN
        and membership.user.is_active
        and not _other_active_admins(membership)
    ):
        raise FieldValidationError(
            [
                (
                    "role",
                    f"{membership.user.get_username()} is the only active admin; make another member admin first",
                )
            ]
        )
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def set_member_active(
    membership: Membership, *, active: bool, by: AbstractBaseUser | AnonymousUser
) -> Membership:
    """Deactivate a member (they can no longer log in, and their open sessions end) or reactivate.

    The user and their cases are kept: cases belong to the institution. Refused
    (`FieldValidationError` on `is_active`) for one's own account and for the last active admin,
    and (`PermissionDeniedError`) for the node's staff and superusers.
    """
    _require_admin_of(membership.institution, by)
    _require_plain_member(membership)
    if membership.user_id == by.pk:
        raise FieldValidationError(
            [("is_active", "you cannot deactivate or reactivate your own account")]
        )
    _lock_institution(membership.institution)
    membership.refresh_from_db()
    user = membership.user
    user.refresh_from_db(fields=["is_active"])
    if user.is_active == active:
        return membership
    if (
        not active
        and membership.role == Membership.Role.ADMIN
        and not _other_active_admins(membership)
    ):
        raise FieldValidationError([("is_active", "the institution would have no active admin")])
    user.is_active = active
    user.save(update_fields=["is_active"])
    return membership


def ensure_institution(name: str) -> Institution:
    """The institution called `name`, created if it does not exist yet."""
    institution, _ = Institution.objects.get_or_create(name=name.strip())
    return institution
