"""Routes of the import and export pages (see matchmaker/web/views/transfer.py).

Included before the case routes, so "cases/import/" is never read as a case's public id.
"""

from __future__ import annotations

from django.urls import path

from matchmaker.web.views import transfer

urlpatterns = [
    path("cases/import/", transfer.case_import, name="case-import"),
    path(
        "cases/<str:public_id>/export/<str:fmt>/",
        transfer.case_export,
        name="case-export",
    ),
]
