from rest_framework.routers import DefaultRouter

from estate.audit.api.views import AuditEventViewSet

router = DefaultRouter()
router.register("audit", AuditEventViewSet, basename="auditevent")
