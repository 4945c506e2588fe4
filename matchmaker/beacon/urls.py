from __future__ import annotations

from django.urls import path

from matchmaker.beacon import views

app_name = "beacon"

urlpatterns = [
    path("", views.BeaconInfoApi.as_view(), name="info"),
    path("info", views.BeaconInfoApi.as_view()),
    path("service-info", views.ServiceInfoApi.as_view(), name="service-info"),
    path("map", views.BeaconMapApi.as_view(), name="map"),
    path("configuration", views.BeaconConfigurationApi.as_view(), name="configuration"),
    path("entry_types", views.EntryTypesApi.as_view(), name="entry-types"),
    path("filtering_terms", views.FilteringTermsApi.as_view(), name="filtering-terms"),
    path("individuals", views.IndividualsApi.as_view(), name="individuals"),
    path("g_variants", views.GenomicVariantsApi.as_view(), name="g-variants"),
    path("datasets", views.DatasetsApi.as_view(), name="datasets"),
]
