"""The form an institution admin fills in to add a member (the service checks the values)."""

from __future__ import annotations

from django import forms

from matchmaker.cases.models import Membership


class MemberAddForm(forms.Form):
    username = forms.CharField(
        label="Username",
        max_length=150,
        help_text="What they type to log in: letters, digits and @ . + - _ only.",
    )
    email = forms.EmailField(
        label="E-mail address",
        help_text="The invitation, with a link to choose a password, is sent here.",
    )
    first_name = forms.CharField(label="Given name", max_length=150, required=False)
    last_name = forms.CharField(label="Family name", max_length=150, required=False)
    role = forms.ChoiceField(
        label="Role",
        choices=Membership.Role.choices,
        initial=Membership.Role.CLINICIAN,
        help_text="Clinicians enter and triage cases; admins also manage the members.",
    )
