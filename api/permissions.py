from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework.permissions import AllowAny, BasePermission

from .actors import actor_of


def allows_anonymous(view) -> bool:
    """Whether the view lets in a caller without credentials (no permission to meet, or AllowAny among
    them): such operations declare `security: []` (api.schema), and anonymous budgets apply to them
    (api.throttling)."""
    permissions = view.get_permissions()
    return not permissions or any(isinstance(permission, AllowAny) for permission in permissions)


class IsAuthenticatedActor(BasePermission):
    """Default for every view: a person or an API key must be authenticated. API keys without the
    write scope are limited to safe methods."""

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return True
        if not actor_of(request).can_write():
            self.message = _("This API key has no write scope.")
            return False
        return True


class IsOperator(BasePermission):
    message = gettext_lazy("Only the platform operator may do this.")

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated) and actor_of(request).is_operator
