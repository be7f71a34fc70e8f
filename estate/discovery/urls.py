from django.urls import path

from estate.discovery import views

urlpatterns = [
    path("discovery/", views.discovery_page, name="discovery_page"),
    path("discovery/sources/<int:pk>/", views.discovery_source, name="discovery_source"),
    path("discovery/sources/<int:pk>/sync/", views.discovery_sync, name="discovery_sync"),
    path("discovery/runs/<int:pk>/", views.discovery_run, name="discovery_run"),
    path("discovery/components/<int:pk>/detach/", views.discovery_detach, name="discovery_detach"),
]
