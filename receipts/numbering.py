"""Receipt numbers: sequential per association and year, never reused. The next number is taken with one
INSERT … ON CONFLICT … DO UPDATE on the counter row, inside the issuing transaction: the row stays
locked until that transaction ends, so two receipts issued at the same moment get consecutive numbers
one after the other; a refused issue rolls its number back with it (no gap, no reuse)."""

from __future__ import annotations

from django.db import connection

from .models import ReceiptCounter


def _column(name: str) -> str:
    field = ReceiptCounter._meta.get_field(name)
    return connection.ops.quote_name(str(getattr(field, "column", name)))


def receipt_number_take(*, association_id: int, year: int) -> int:
    """The next number of the association in `year`; locks the counter row until the transaction ends."""
    table = connection.ops.quote_name(ReceiptCounter._meta.db_table)
    association, year_column, last = (_column(name) for name in ("association", "year", "last"))
    sql = (
        f"INSERT INTO {table} AS c ({association}, {year_column}, {last}) VALUES (%s, %s, 1) "
        f"ON CONFLICT ({association}, {year_column}) DO UPDATE SET {last} = c.{last} + 1 RETURNING c.{last}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [association_id, year])
        (number,) = cursor.fetchone()
    return int(number)
