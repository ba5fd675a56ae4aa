from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    """For facts the admin may look at but never write: ledgers, events, derived rows. Changes go
    through services (or, for append-only tables, not at all: the database refuses them too)."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
