from rest_framework.routers import SimpleRouter

from estate.discovery.api import views

router = SimpleRouter()
router.register("discovery/sources", views.DiscoverySourceViewSet, basename="discoverysource")
router.register("discovery/runs", views.SyncRunViewSet, basename="syncrun")
router.register("discovery/objects", views.DiscoveredObjectViewSet, basename="discoveredobject")
