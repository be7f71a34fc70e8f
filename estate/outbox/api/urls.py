from rest_framework.routers import DefaultRouter

from estate.outbox.api.views import OutboxMessageViewSet

router = DefaultRouter()
router.register("outbox", OutboxMessageViewSet, basename="outboxmessage")
