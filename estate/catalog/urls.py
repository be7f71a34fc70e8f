from django.urls import path

from estate.catalog import views

urlpatterns = [
    path("catalog/", views.catalog_page, name="catalog_page"),
    path("catalog/apply/", views.catalog_confirm, name="catalog_confirm"),
]
