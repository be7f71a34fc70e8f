from django.urls import path

from estate.telemetry import views

urlpatterns = [
    path("components/<int:pk>/health/", views.component_health, name="component_health"),
    path("health/tiles/", views.health_tiles, name="health_tiles"),
    path("telemetry/log-rules/", views.log_rule_list, name="log_rule_list"),
    path("telemetry/log-rules/<int:pk>/", views.log_rule_edit, name="log_rule_edit"),
    path("telemetry/log-rules/<int:pk>/toggle/", views.log_rule_toggle, name="log_rule_toggle"),
    path("telemetry/log-rules/<int:pk>/delete/", views.log_rule_delete, name="log_rule_delete"),
]
