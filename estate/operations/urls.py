from django.urls import path

from estate.operations import views

urlpatterns = [
    path("operations/", views.operation_list, name="operation_list"),
    path("operations/callback/", views.webhook_callback, name="operation_callback"),
    path("operations/<int:pk>/", views.operation_detail, name="operation_detail"),
    path("operations/<int:pk>/cancel/", views.operation_cancel, name="operation_cancel"),
    path("operations/<int:pk>/resume/", views.operation_resume, name="operation_resume"),
    path("components/<int:pk>/operations/", views.operation_create, name="operation_create"),
    path("components/<int:pk>/scale/", views.component_scale, name="component_scale"),
    path("components/<int:pk>/operations/panel/", views.component_operations, name="component_operations"),
]
