"""URLs for the benchmark's django-helpdesk (its mail templates reverse 'helpdesk:...' links)."""

from django.urls import include, path

urlpatterns = [path("helpdesk/", include("helpdesk.urls", namespace="helpdesk"))]
