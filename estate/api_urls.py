"""/api/v1/: one browsable root over every app's router."""

from rest_framework.routers import DefaultRouter

from estate.access.api.urls import router as access_router
from estate.audit.api.urls import router as audit_router
from estate.catalog.api.urls import router as catalog_router
from estate.dashboard.api.urls import router as dashboard_router
from estate.discovery.api.urls import router as discovery_router
from estate.inventory.api.urls import router as inventory_router
from estate.notifications.api.urls import router as notifications_router
from estate.operations.api.urls import router as operations_router
from estate.outbox.api.urls import router as outbox_router
from estate.patching.api.urls import router as patching_router
from estate.runbooks.api.urls import router as runbooks_router
from estate.telemetry.api.urls import router as telemetry_router

router = DefaultRouter()
APP_ROUTERS = (
    inventory_router,
    telemetry_router,
    patching_router,
    operations_router,
    runbooks_router,
    outbox_router,
    notifications_router,
    dashboard_router,
    access_router,
    audit_router,
    catalog_router,
    discovery_router,
)
for app_router in APP_ROUTERS:
    router.registry.extend(app_router.registry)

urlpatterns = router.urls
