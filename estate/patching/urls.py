from django.urls import path

from estate.patching import views

urlpatterns = [
    path("patching/calendar/", views.calendar, name="calendar"),
    path("patching/calendar/events.json", views.calendar_events, name="calendar_events"),
    path("patching/occurrences/<str:key>/", views.occurrence_detail, name="occurrence_detail"),
    path("patching/occurrences/<str:key>/<str:action>/", views.occurrence_action, name="occurrence_action"),
    path("patching/windows/", views.window_list, name="patch_window_list"),
    path("patching/windows/new/", views.window_create, name="patch_window_create"),
    path("patching/windows/check/", views.window_check, name="patch_window_check"),
    path("patching/windows/<int:pk>/edit/", views.window_edit, name="patch_window_edit"),
    path("patching/windows/<int:pk>/check/", views.window_check, name="patch_window_check_existing"),
    path("patching/windows/<int:pk>/pause/", views.window_pause, name="patch_window_pause"),
    path("patching/windows/<int:pk>/delete/", views.window_delete, name="patch_window_delete"),
    path("patching/deadlines/<int:pk>/accept/", views.deadline_accept, name="deadline_accept"),
    path("patching/freezes/", views.freeze_list, name="freeze_list"),
    path("patching/feeds/new/", views.feed_token_create, name="feed_token_create"),
    path("patching/feeds/<int:pk>/revoke/", views.feed_token_revoke, name="feed_token_revoke"),
    path("patching/feed/<str:key>.ics", views.feed, name="patch_feed"),
]
