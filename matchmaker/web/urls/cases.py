"""Routes of the case pages (list, entry, editing, status) and the form helpers they call."""

from __future__ import annotations

from django.urls import path
from django.views.generic import RedirectView

from matchmaker.web.views import cases

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="case-list", permanent=False), name="home"),
    path("cases/", cases.case_list, name="case-list"),
    path("cases/new/", cases.case_create, name="case-create"),
    path("cases/<str:public_id>/", cases.case_detail, name="case-detail"),
    path("cases/<str:public_id>/edit/", cases.case_edit, name="case-edit"),
    path("cases/<str:public_id>/status/", cases.case_change_status, name="case-status"),
    path("terms/search/", cases.term_search, name="term-search"),
    path("terms/<str:hpo_id>/related/", cases.term_related, name="term-related"),
    path("genes/check/", cases.gene_check, name="gene-check"),
]
