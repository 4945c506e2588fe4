"""Institution members, managed by the institution's admins: list, add, role, (de)activate.

Only an admin of the institution gets here (others: 403), and a member of another institution
is a 404. The rules (last admin, own account, the node's staff left to the node's
administrators: 403) live in `cases.services.members`.
"""

from __future__ import annotations

import logging
from smtplib import SMTPException
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from matchmaker.cases import services
from matchmaker.cases.models import Membership
from matchmaker.cases.selectors import membership_of
from matchmaker.lib.errors import DomainError, FieldValidationError
from matchmaker.web.member_forms import MemberAddForm

logger = logging.getLogger(__name__)


def _admin_membership(request: HttpRequest) -> Membership:
    membership = membership_of(request.user)
    if membership is None or membership.role != Membership.Role.ADMIN:
        raise PermissionDenied("Only institution admins manage members.")
    return membership


def _member(admin: Membership, user_id: int) -> Membership:
    return get_object_or_404(
        Membership.objects.select_related("user", "institution"),
        institution_id=admin.institution_id,
        user_id=user_id,
    )


def _errors_of(error: DomainError) -> list[tuple[str, str]]:
    if isinstance(error, FieldValidationError):
        return error.errors
    return [(error.field, error.message)]


def _members_page(
    request: HttpRequest,
    admin: Membership,
    *,
    form: MemberAddForm | None = None,
    row_errors: dict[int, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    members = (
        Membership.objects.filter(institution_id=admin.institution_id)
        .select_related("user")
        .order_by("user__last_name", "user__first_name", "user__username")
    )
    context: dict[str, Any] = {
        "nav": "members",
        "institution": admin.institution,
        "admin": admin,
        "members": members,
        "roles": Membership.Role.choices,
        "form": form or MemberAddForm(),
        "row_errors": row_errors or {},
    }
    return render(request, "web/members/list.html", context, status=status)


def _invite(request: HttpRequest, member: Membership) -> bool:
    """Send the set-password link; a mail failure is shown, not raised (the member stays added)."""
    try:
        services.send_invitation(member, base_url=request.build_absolute_uri("/").rstrip("/"))
    except (OSError, SMTPException):
        logger.exception("invitation to user %s not sent", member.user_id)
        messages.error(
            request,
            f"The invitation to {member.user.email} could not be sent (mail server trouble). "
            "Try “Send invitation again” later.",
        )
        return False
    return True


@login_required
@require_http_methods(["GET", "POST"])
def member_list(request: HttpRequest) -> HttpResponse:
    """The members of the admin's institution; a POST adds one and e-mails them an invitation."""
    admin = _admin_membership(request)
    if request.method == "GET":
        return _members_page(request, admin)
    form = MemberAddForm(request.POST)
    if not form.is_valid():
        return _members_page(request, admin, form=form, status=400)
    try:
        member = services.add_member(admin.institution, by=request.user, **form.cleaned_data)
    except DomainError as error:
        for field, message in _errors_of(error):
            form.add_error(field if field in form.fields else None, message)
        return _members_page(request, admin, form=form, status=400)
    if _invite(request, member):
        messages.success(
            request,
            f"{member.user.get_username()} added; an invitation to choose a password was sent "
            f"to {member.user.email}. The link works for one day.",
        )
    return redirect("member-list")


def _row_action_failed(
    request: HttpRequest, admin: Membership, member: Membership, error: DomainError
) -> HttpResponse:
    message = "; ".join(message for _, message in _errors_of(error))
    return _members_page(
        request, admin, row_errors={member.user_id: message}, status=error.status_code
    )


@login_required
@require_POST
def member_change_role(request: HttpRequest, user_id: int) -> HttpResponse:
    admin = _admin_membership(request)
    member = _member(admin, user_id)
    try:
        services.change_member_role(member, role=request.POST.get("role", ""), by=request.user)
    except DomainError as error:
        return _row_action_failed(request, admin, member, error)
    messages.success(
        request, f"{member.user.get_username()} is now {member.get_role_display().lower()}."
    )
    return redirect("member-list")


@login_required
@require_POST
def member_set_active(request: HttpRequest, user_id: int) -> HttpResponse:
    admin = _admin_membership(request)
    member = _member(admin, user_id)
    active = request.POST.get("active") == "1"
    try:
        services.set_member_active(member, active=active, by=request.user)
    except DomainError as error:
        return _row_action_failed(request, admin, member, error)
    name = member.user.get_username()
    messages.success(
        request,
        f"{name} can log in again."
        if active
        else f"{name} is deactivated: they cannot log in; their cases stay with the institution.",
    )
    return redirect("member-list")


@login_required
@require_POST
def member_invite(request: HttpRequest, user_id: int) -> HttpResponse:
    """Send a fresh set-password link (the first one expired or went astray)."""
    admin = _admin_membership(request)
    member = _member(admin, user_id)
    try:
        sent = _invite(request, member)
    except DomainError as error:
        return _row_action_failed(request, admin, member, error)
    if sent:
        messages.success(request, f"A new invitation was sent to {member.user.email}.")
    return redirect("member-list")
