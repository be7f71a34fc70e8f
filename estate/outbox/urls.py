from django.urls import path

from estate.outbox import views

urlpatterns = [
    path("outbox/", views.outbox_list, name="outbox_list"),
    path("outbox/<int:pk>/retry/", views.outbox_retry, name="outbox_retry"),
]
