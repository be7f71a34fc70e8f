from rest_framework.routers import SimpleRouter

from estate.dashboard.api.views import FindingViewSet

router = SimpleRouter()
router.register("findings", FindingViewSet, basename="finding")
