from django.urls import path

from estate.dashboard import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("findings/", views.finding_list_view, name="finding_list"),
]
