from rest_framework.routers import SimpleRouter

from estate.runbooks.api.views import RunbookRunViewSet, RunbookTemplateViewSet, WindowRunbookViewSet

router = SimpleRouter()
router.register("runbook-templates", RunbookTemplateViewSet, basename="runbooktemplate")
router.register("window-runbooks", WindowRunbookViewSet, basename="windowrunbook")
router.register("runbook-runs", RunbookRunViewSet, basename="runbookrun")
