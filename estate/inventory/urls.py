from django.urls import path

from estate.inventory import views

urlpatterns = [
    path("components/", views.component_list, name="component_list"),
    path("components/new/", views.component_create, name="component_create"),
    path("components/<int:pk>/", views.component_detail, name="component_detail"),
    path("components/<int:pk>/edit/", views.component_edit, name="component_edit"),
    path("components/<int:pk>/delete/", views.component_delete, name="component_delete"),
]
