from django.apps import AppConfig


class HuddleConfig(AppConfig):
    name = "huddle"
