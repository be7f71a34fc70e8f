from django.urls import path

from estate.runbooks import views

urlpatterns = [
    path("runbooks/occurrences/<str:key>/console/", views.console, name="runbook_console"),
    path("runbooks/occurrences/<str:key>/run/", views.run_start, name="runbook_run_start"),
    path("runbooks/occurrences/<str:key>/decide/", views.run_decide, name="runbook_run_decide"),
    path("runbooks/occurrences/<str:key>/attach/", views.window_attach, name="runbook_window_attach"),
]
