from rest_framework.pagination import CursorPagination


class CursorPage(CursorPagination):
    """One pagination style for lists: opaque cursors, stable under inserts (good for syncing)."""

    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 500
    ordering = "-id"

    def get_paginated_response_schema(self, schema: dict) -> dict:
        return _paginated_schema(schema)


class SyncCursorPage(CursorPage):
    """For clients that sync: oldest change first, so `updated_since` + `next` walks every change."""

    ordering = ("updated_at", "id")


def _nullable_uri() -> dict:
    return {"type": ["string", "null"], "format": "uri"}


def _paginated_schema(schema: dict) -> dict:
    return {
        "type": "object",
        "required": ["next", "previous", "results"],
        "properties": {"next": _nullable_uri(), "previous": _nullable_uri(), "results": schema},
    }
