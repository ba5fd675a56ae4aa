# The stock identity, once every offer has been backfilled (0005): its own transaction, since
# PostgreSQL cannot alter a table with the backfill's trigger events still pending.
import django.db.models.expressions
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("exchange", "0005_offer_stock_identity")]

    operations = [
        migrations.AddConstraint(
            model_name="offer",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("remaining_quantity__gte", 0),
                    ("reserved_quantity__gte", 0),
                    ("collected_quantity__gte", 0),
                ),
                name="offer_stock_parts_non_negative",
            ),
        ),
        migrations.AddConstraint(
            model_name="offer",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    (
                        "quantity",
                        django.db.models.expressions.CombinedExpression(
                            django.db.models.expressions.CombinedExpression(
                                models.F("remaining_quantity"), "+", models.F("reserved_quantity")
                            ),
                            "+",
                            models.F("collected_quantity"),
                        ),
                    )
                ),
                name="offer_stock_identity",
            ),
        ),
    ]
