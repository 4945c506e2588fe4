"""Logging in with lockout and a one-time code, and the "Two-factor login" page.

Login is two steps for a user with an authenticator: the password (Django's form), then the code.
Between the two the session holds only who is half-way and since when; the user is logged in
(`auth.login`, which also renews the session key) only after the code, so a stolen password
alone opens nothing. Wrong passwords and wrong codes both count towards the lockout
(`matchmaker.security.lockout`), whose refusal does not depend on whether the account exists.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import REDIRECT_FIELD_NAME, get_user_model
from django.contrib.auth import login as auth_login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AbstractBaseUser, User
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login

from matchmaker.lib.client_address import client_address
from matchmaker.lib.errors import FieldValidationError
from matchmaker.lib.users import signed_in_user
from matchmaker.security import lockout, password_reset, two_factor

logger = logging.getLogger(__name__)

# Session keys of a login half-way: the password was right, the code is still to come.
PENDING_USER = "login_pending_user_id"
PENDING_BACKEND = "login_pending_backend"
PENDING_SINCE = "login_pending_since"
# The code must follow the password within this many seconds.
CODE_STEP_SECONDS = 300


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=12,
        help_text="The 6-digit code your authenticator app shows for this site.",
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )


def _safe_next(request: HttpRequest, candidate: str | None) -> str:
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse(settings.LOGIN_REDIRECT_URL)


def _code_step_url(next_url: str) -> str:
    return f"{reverse('login-code')}?{urlencode({REDIRECT_FIELD_NAME: next_url})}"


def _begin_code_step(request: HttpRequest, user: AbstractBaseUser, backend: str) -> None:
    request.session[PENDING_USER] = user.pk
    request.session[PENDING_BACKEND] = backend
    request.session[PENDING_SINCE] = time.time()


def _end_code_step(request: HttpRequest) -> None:
    for key in (PENDING_USER, PENDING_BACKEND, PENDING_SINCE):
        request.session.pop(key, None)


def _pending_user(request: HttpRequest) -> User | None:
    """Who passed the password step (or is signed in without the code they need), if anyone."""
    since = request.session.get(PENDING_SINCE)
    pending_id = request.session.get(PENDING_USER)
    if (
        since is not None
        and pending_id is not None
        and time.time() - float(since) < CODE_STEP_SECONDS
    ):
        user = get_user_model().objects.filter(pk=pending_id, is_active=True).first()
        if user is not None:
            return user
    _end_code_step(request)
    signed_in = request.user
    if (
        isinstance(signed_in, User)
        and signed_in.is_authenticated
        and two_factor.needs_code(signed_in)
        and two_factor.confirmed_device_of(signed_in)
    ):
        return signed_in
    return None


def _log_failure(kind: str, username: str, address: str | None) -> None:
    # The username only when it is an account's: a password typed into the username field by
    # mistake must not end up in the log. Looked up as the login form does (NFKC).
    username = lockout.normalised_username(username)
    known = get_user_model().objects.filter(username=username).exists()
    logger.warning(
        "failed login (%s) for %s from %s",
        kind,
        f"user {username!r}" if known else "an unknown username",
        address or "an unknown address",
    )


class LoginView(auth_views.LoginView):
    """Django's login, refusing locked-out usernames and addresses, and then asking for the code."""

    redirect_authenticated_user = True

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        user = request.user
        if user.is_authenticated and two_factor.needs_code(user):
            # Signed in without the code this account needs (e.g. sent here by the admin).
            if two_factor.confirmed_device_of(user) is None:
                return redirect("two-factor")
            return HttpResponseRedirect(
                _code_step_url(_safe_next(request, request.GET.get(REDIRECT_FIELD_NAME)))
            )
        return super().dispatch(request, *args, **kwargs)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        username = request.POST.get("username", "")[:150]
        address = client_address(request)
        if lockout.is_locked_out(username=username, client_address=address):
            logger.warning("login refused: locked out (from %s)", address or "an unknown address")
            return self._locked_out(username)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form: Any) -> HttpResponse:
        username = form.data.get("username", "")[:150]
        if username and form.data.get("password"):
            address = client_address(self.request)
            _log_failure("password", username, address)
            if lockout.note_failed_login(username=username, client_address=address):
                return self._locked_out(username)
        return super().form_invalid(form)

    def form_valid(self, form: Any) -> HttpResponse:
        user = form.get_user()
        if two_factor.confirmed_device_of(user) is not None:
            _begin_code_step(self.request, user, user.backend)
            return HttpResponseRedirect(_code_step_url(self.get_success_url()))
        lockout.note_successful_login(username=user.get_username())
        return super().form_valid(form)

    def _locked_out(self, username: str) -> HttpResponse:
        # An unbound form: a bound one would check the password while rendering its errors.
        form = self.get_form_class()(self.request, initial={"username": username})
        context = self.get_context_data(form=form, lockout_message=lockout.lockout_message())
        return self.render_to_response(context, status=429)


class PasswordResetView(auth_views.PasswordResetView):
    """Django's password reset, throttled per client address and per account.

    Over the account's limit the answer is the usual neutral page without the e-mail, so the
    answer never depends on whether the account exists (`security.password_reset`).
    """

    def form_valid(self, form: Any) -> HttpResponse:
        verdict = password_reset.note_reset_request(
            email=form.cleaned_data["email"], client_address=client_address(self.request)
        )
        if verdict is password_reset.ResetVerdict.ADDRESS_OVER_LIMIT:
            context = self.get_context_data(
                form=form, throttle_message=password_reset.address_limit_message()
            )
            return self.render_to_response(context, status=429)
        if verdict is password_reset.ResetVerdict.ACCOUNT_OVER_LIMIT:
            return HttpResponseRedirect(self.get_success_url())
        return super().form_valid(form)


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    """The neutral "check your e-mail" page, which also says how many links are sent at most."""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context: dict[str, Any] = super().get_context_data(**kwargs)
        context["reset_links_per_window"] = settings.PASSWORD_RESET_MAX_PER_ACCOUNT
        context["reset_window_minutes"] = max(1, round(settings.PASSWORD_RESET_WINDOW_SECONDS / 60))
        return context


@sensitive_post_parameters("code")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def login_code(request: HttpRequest) -> HttpResponse:
    """The second step: the one-time code of the user who gave the right password."""
    user = _pending_user(request)
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next"))
    if user is None:
        return _redirect_to_login_page(next_url)
    form = CodeForm(request.POST or None)
    context: dict[str, Any] = {"form": form, "next": next_url, "public_page": True}
    if request.method == "GET":
        return render(request, "registration/login_code.html", context)

    username = user.get_username()
    address = client_address(request)
    if lockout.is_locked_out(username=username, client_address=address):
        _end_code_step(request)
        context["lockout_message"] = lockout.lockout_message()
        return render(request, "registration/login_code.html", context, status=429)
    if not form.is_valid():
        return render(request, "registration/login_code.html", context, status=400)
    try:
        device = two_factor.verify_login_code(user, form.cleaned_data["code"])
    except two_factor.CodeThrottledError as error:
        # Not a failed login: no code was checked, so nothing was guessed.
        form.add_error("code", error.message)
        response = render(request, "registration/login_code.html", context, status=429)
        response["Retry-After"] = str(error.retry_after_seconds)
        return response
    if device is None:
        _log_failure("one-time code", username, address)
        if lockout.note_failed_login(username=username, client_address=address):
            _end_code_step(request)
            context["lockout_message"] = lockout.lockout_message()
            return render(request, "registration/login_code.html", context, status=429)
        form.add_error("code", two_factor.WRONG_CODE)
        return render(request, "registration/login_code.html", context, status=200)

    backend = request.session.get(PENDING_BACKEND) or settings.AUTHENTICATION_BACKENDS[0]
    _end_code_step(request)
    if not (request.user.is_authenticated and request.user.pk == user.pk):
        auth_login(request, user, backend=backend)
    otp_login(request, device)
    lockout.note_successful_login(username=username)
    return HttpResponseRedirect(next_url)


def _redirect_to_login_page(next_url: str) -> HttpResponse:
    return HttpResponseRedirect(f"{reverse('login')}?{urlencode({REDIRECT_FIELD_NAME: next_url})}")


@login_required
@never_cache
def two_factor_page(request: HttpRequest) -> HttpResponse:
    return _two_factor_page(request)


def _two_factor_page(
    request: HttpRequest, *, form: CodeForm | None = None, errors: list[str] | None = None
) -> HttpResponse:
    user = signed_in_user(request)
    confirmed = two_factor.confirmed_device_of(user)
    pending = None if confirmed else two_factor.pending_device_of(user)
    context: dict[str, Any] = {
        "nav": "two-factor",
        "enabled": confirmed is not None,
        "pending": pending is not None,
        "required": settings.REQUIRE_TWO_FACTOR,
        "form": form or CodeForm(),
        "errors": errors or [],
        "public_page": True,  # reachable before joining an institution
    }
    if pending is not None:
        context |= {
            "secret": two_factor.secret_of(pending),
            "qr_svg": two_factor.qr_code_svg(pending),
            "config_url": pending.config_url,
        }
    status = 200 if form is None or not form.errors else 400
    return render(request, "web/security/two_factor.html", context, status=status)


@login_required
@require_POST
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    try:
        two_factor.start_two_factor_setup(signed_in_user(request))
    except FieldValidationError as error:
        return _two_factor_page(request, errors=[message for _, message in error.errors])
    return redirect("two-factor")


@sensitive_post_parameters("code")
@login_required
@require_POST
def two_factor_confirm(request: HttpRequest) -> HttpResponse:
    form = CodeForm(request.POST)
    if form.is_valid():
        try:
            device = two_factor.confirm_two_factor(
                signed_in_user(request), code=form.cleaned_data["code"]
            )
        except FieldValidationError as error:
            for _, message in error.errors:
                form.add_error("code", message)
        else:
            # This session proved the code: it counts as verified from now on.
            otp_login(request, device)
            logger.info("two-factor login turned on for user %s", request.user.pk)
            messages.success(request, "Two-factor login is on. From now on, log in with a code.")
            return redirect("two-factor")
    return _two_factor_page(request, form=form)


@sensitive_post_parameters("code")
@login_required
@require_POST
def two_factor_disable(request: HttpRequest) -> HttpResponse:
    form = CodeForm(request.POST)
    if form.is_valid():
        try:
            two_factor.disable_two_factor(signed_in_user(request), code=form.cleaned_data["code"])
        except FieldValidationError as error:
            for _, message in error.errors:
                form.add_error("code", message)
        else:
            logger.info("two-factor login turned off for user %s", request.user.pk)
            messages.success(
                request, "Two-factor login is off. Logging in needs only the password."
            )
            return redirect("two-factor")
    return _two_factor_page(request, form=form)
