from rest_framework.routers import DefaultRouter

from estate.notifications.api.views import NotificationRouteViewSet

router = DefaultRouter()
router.register("notification-routes", NotificationRouteViewSet, basename="notificationroute")
