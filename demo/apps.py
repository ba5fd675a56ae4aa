from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo scenario (`manage.py seed_demo`): believable Roubaix / MEL organisations, people and
    sites. It sits above every domain app and uses their services, like any other client."""

    name = "demo"
    verbose_name = "Demo data"
