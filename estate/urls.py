from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
)

from estate.access.views import EstateLoginView
from estate.core import views as core_views
from estate.telemetry.metrics import metrics_view

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("readyz", core_views.readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("login/", EstateLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("", include("estate.telemetry.intake.urls")),  # OTLP /v1/*, remote_write: before api/v1/
    path("api/v1/", include("estate.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="schema"),
        name="swagger-ui",
    ),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("", include("estate.dashboard.urls")),
    path("", include("estate.inventory.urls")),
    path("", include("estate.telemetry.urls")),
    path("", include("estate.patching.urls")),
    path("", include("estate.operations.urls")),
    path("", include("estate.runbooks.urls")),
    path("", include("estate.outbox.urls")),
    path("", include("estate.audit.urls")),
    path("", include("estate.access.urls")),
    path("", include("estate.catalog.urls")),
    path("", include("estate.discovery.urls")),
]

# An /api/ URL no route matches answers JSON in the one error shape, not the HTML page.
handler404 = "estate.core.views.page_not_found"
