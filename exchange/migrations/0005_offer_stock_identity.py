# The stock of an offer in three parts that add up to its quantity: remaining, reserved by accepted
# claims, collected. Existing offers: reserved is what accepted claims hold, collected the rest.

import django.db.models.expressions
from django.db import migrations, models


BACKFILL = """
UPDATE exchange_offer o SET reserved_quantity = COALESCE(
    (SELECT SUM(c.quantity) FROM claims_claim c WHERE c.offer_id = o.id AND c.status = 'accepted'), 0);
UPDATE exchange_offer SET collected_quantity = quantity - remaining_quantity - reserved_quantity;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("exchange", "0004_offer_published_at_index"),
        ("inventory", "0003_category_mass_range"),
        ("organisations", "0003_sessions_and_registrations"),
        ("claims", "0004_claim_location_reveal"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="offer",
            name="offer_remaining_within_quantity",
        ),
        migrations.AddField(
            model_name="offer",
            name="collected_quantity",
            field=models.DecimalField(
                decimal_places=3,
                default=0,
                help_text="Handed over (for a loan: out on loan now).",
                max_digits=14,
                verbose_name="collected quantity",
            ),
        ),
        migrations.AddField(
            model_name="offer",
            name="reserved_quantity",
            field=models.DecimalField(
                decimal_places=3,
                default=0,
                help_text="Held by accepted claims not yet collected.",
                max_digits=14,
                verbose_name="reserved quantity",
            ),
        ),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
    ]
