from rest_framework.routers import SimpleRouter

from estate.catalog.api import views

router = SimpleRouter()
router.register("catalog", views.CatalogViewSet, basename="catalog")
