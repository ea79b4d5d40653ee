from django.apps import AppConfig


class ContentLibraryConfig(AppConfig):
    name = "content_library"
