from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    label = "api"

    def ready(self) -> None:
        from . import schema  # noqa: F401  (registers OpenAPI extensions for the authentication classes)
