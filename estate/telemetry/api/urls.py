from rest_framework.routers import SimpleRouter

from estate.telemetry.api import views

router = SimpleRouter()
router.register("telemetry", views.TelemetryIngestViewSet, basename="telemetry")
router.register("metric-rules", views.MetricRuleViewSet, basename="metricrule")
router.register("log-rules", views.LogRuleViewSet, basename="logrule")
router.register("health-changes", views.HealthChangeViewSet, basename="healthchange")
router.register("samples", views.SampleViewSet, basename="sample")
router.register("component-telemetry", views.ComponentTelemetryViewSet, basename="componenttelemetry")
