"""Contact the other team about a match: the node's message to read, a note to add, send.

The match is read through `matches_visible_to` (as every match page), so another institution's
match is a 404 here too.
"""

from __future__ import annotations

import logging
import smtplib

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from matchmaker.lib.users import signed_in_user
from matchmaker.web import contact
from matchmaker.web.views.matches import _row_of, _visible_match

logger = logging.getLogger(__name__)


class ContactForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5}),
        required=False,
        max_length=contact.MAX_NOTE_LENGTH,
        label="Your note",
        help_text=(
            "Added below the message. Do not write your own label for the patient or anything "
            "that identifies them: it leaves your institution."
        ),
    )


@login_required
@require_http_methods(["GET", "POST"])
def match_contact(request: HttpRequest, pk: int) -> HttpResponse:
    match = _visible_match(request, pk)
    if match.other_case_withheld:
        # Its contact is no longer shown, so no message goes out through the node either.
        messages.error(
            request,
            "The other case was withdrawn by its institution: it cannot be contacted from here.",
        )
        return redirect("match-detail", pk=match.pk)
    recipient = contact.recipient_of(match)
    form = ContactForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if not recipient.can_send:
            messages.error(
                request,
                "The other team gave no e-mail address to write to; use their contact link.",
            )
            status = 409
        elif form.is_valid():
            try:
                contact.contact_other_team(
                    match, by=signed_in_user(request), note=form.cleaned_data["note"]
                )
            except (smtplib.SMTPException, OSError):
                logger.exception("contact e-mail for match %s could not be sent", match.pk)
                form.add_error(
                    None,
                    "The e-mail could not be sent (the mail server refused or did not answer). "
                    "Nothing was recorded; try again later.",
                )
                status = 502
            else:
                messages.success(
                    request, f"Sent to {recipient.described}; the match is now Contacted."
                )
                return redirect("match-detail", pk=match.pk)
        else:
            status = 400
    return render(
        request,
        "web/matches/contact.html",
        {
            "nav": "matches",
            "match": match,
            "case": match.case,
            "row": _row_of(match),
            "recipient": recipient,
            "subject": contact.subject_of(match),
            "message": contact.compose_message(match),
            "form": form,
        },
        status=status,
    )
