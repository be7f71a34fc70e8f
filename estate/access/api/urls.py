from rest_framework.routers import SimpleRouter

from estate.access.api import views

router = SimpleRouter()
router.register("tokens", views.ApiTokenViewSet, basename="apitoken")
