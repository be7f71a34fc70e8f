from rest_framework.routers import SimpleRouter

from estate.inventory.api import views

router = SimpleRouter()
router.register("components", views.ComponentViewSet, basename="component")
router.register("instances", views.InstanceViewSet, basename="instance")
router.register("images", views.ImageViewSet, basename="image")
router.register("systems", views.SystemViewSet, basename="system")
router.register("clusters", views.ClusterViewSet, basename="cluster")
router.register("teams", views.TeamViewSet, basename="team")
router.register("environments", views.EnvironmentViewSet, basename="environment")
router.register("tags", views.TagViewSet, basename="tag")
