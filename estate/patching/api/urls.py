from rest_framework.routers import SimpleRouter

from estate.patching.api import views

router = SimpleRouter()
router.register("patch-windows", views.PatchWindowViewSet, basename="patchwindow")
router.register("occurrences", views.OccurrenceViewSet, basename="occurrence")
router.register("change-freezes", views.ChangeFreezeViewSet, basename="changefreeze")
router.register("feed-tokens", views.FeedTokenViewSet, basename="feedtoken")
router.register("deadlines", views.DeadlineViewSet, basename="deadline")
router.register("calendar", views.CalendarViewSet, basename="calendar")
