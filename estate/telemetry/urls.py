from django.urls import path

from estate.telemetry import views

urlpatterns = [
    path("components/<int:pk>/health/", views.component_health, name="component_health"),
    path("health/tiles/", views.health_tiles, name="health_tiles"),
]
