"""/api/v1/: one browsable root over every app's router."""

from rest_framework.routers import DefaultRouter

from estate.dashboard.api.urls import router as dashboard_router
from estate.inventory.api.urls import router as inventory_router
from estate.operations.api.urls import router as operations_router
from estate.patching.api.urls import router as patching_router
from estate.telemetry.api.urls import router as telemetry_router

router = DefaultRouter()
for app_router in (inventory_router, telemetry_router, patching_router, operations_router, dashboard_router):
    router.registry.extend(app_router.registry)

urlpatterns = router.urls
