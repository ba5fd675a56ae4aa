"""The handovers as CSV: one row per ledger row with the names of the parties, the category and the
territory, written by api.exports (machine keys first; `?labels=true` adds the labels)."""

from __future__ import annotations

from typing import Any

from claims.models import ConfirmationState, Handover
from core.tables import columns_of

from .output import _related

HANDOVER_COLUMNS = columns_of(
    ("id", "Identifiant", "Id"),
    ("claim_id", "Demande", "Claim"),
    ("reverses_id", "Annule la ligne", "Reverses the row"),
    ("corrects_id", "Corrige la ligne", "Corrects the row"),
    ("collected_at", "Collectée le", "Collected at"),
    ("recorded_at", "Enregistrée le", "Recorded at"),
    ("donor_id", "Donateur (id)", "Donor (id)"),
    ("donor_name", "Donateur", "Donor"),
    ("donor_kind", "Type de donateur", "Donor kind"),
    ("recipient_id", "Bénéficiaire (id)", "Recipient (id)"),
    ("recipient_name", "Bénéficiaire", "Recipient"),
    ("recipient_kind", "Type de bénéficiaire", "Recipient kind"),
    ("category_key", "Catégorie (clé)", "Category (key)"),
    ("category_name", "Catégorie", "Category"),
    ("territory_code", "Code du territoire", "Territory code"),
    ("territory_name", "Territoire", "Territory"),
    ("quantity", "Quantité", "Quantity"),
    ("unit", "Unité", "Unit"),
    ("mass_kg", "Masse (kg)", "Mass (kg)"),
    ("mass_method", "Méthode de la masse", "Mass method"),
    ("expected_mass_kg", "Masse attendue (kg)", "Expected mass (kg)"),
    ("mass_confirmed", "Masse confirmée", "Mass confirmed"),
    ("outlier", "Aberrante", "Outlier"),
    ("mode", "Mode", "Mode"),
    ("factor_version", "Version du facteur", "Factor version"),
    ("factor_basis", "Base du facteur", "Factor basis"),
    ("factor_kgco2e", "Facteur (kg CO2e)", "Factor (kg CO2e)"),
    ("factor_items", "Objets du facteur", "Factor items"),
    ("factor_status", "Statut du facteur", "Factor status"),
    ("factor_source", "Source du facteur", "Factor source"),
    ("co2e_avoided_kg", "CO2e évité (kg)", "CO2e avoided (kg)"),
    ("confirmation", "Confirmation", "Confirmation"),
)

CSV_DESCRIPTION = (
    "CSV (`?format=csv` or `Accept: text/csv`): the whole selection, streamed, oldest collection first; "
    "UTF-8, comma-separated, decimal point, times in Europe/Paris. The first row is the machine keys "
    "(`?labels=true` adds a row of labels in your language): "
    + ", ".join(column.key for column in HANDOVER_COLUMNS)
    + "."
)


def handover_record(handover: Handover) -> dict[str, Any]:
    """A ledger row as the CSV's cells (api.exports writes them): the confirmation state, empty for a
    reversal."""
    if handover.reverses_id is not None:
        confirmation = ""
    else:
        answer = _related(handover, "confirmation")
        confirmation = answer.state if answer else ConfirmationState.PENDING
    territory = handover.territory
    return {
        "id": handover.pk,
        "claim_id": handover.claim_id,
        "reverses_id": handover.reverses_id,
        "corrects_id": handover.corrects_id,
        "collected_at": handover.collected_at,
        "recorded_at": handover.recorded_at,
        "donor_id": handover.donor_id,
        "donor_name": handover.donor.name,
        "donor_kind": handover.donor_kind,
        "recipient_id": handover.recipient_id,
        "recipient_name": handover.recipient.name,
        "recipient_kind": handover.recipient_kind,
        "category_key": handover.category.key,
        "category_name": handover.category.name,
        "territory_code": territory.code if territory else None,
        "territory_name": territory.name if territory else None,
        "quantity": handover.quantity,
        "unit": handover.unit,
        "mass_kg": handover.mass_kg,
        "mass_method": handover.mass_method,
        "expected_mass_kg": handover.expected_mass_kg,
        "mass_confirmed": handover.mass_confirmed,
        "outlier": handover.outlier,
        "mode": handover.mode,
        "factor_version": handover.factor_version,
        "factor_basis": handover.factor_basis,
        "factor_kgco2e": handover.factor_kgco2e,
        "factor_items": handover.factor_items,
        "factor_status": handover.factor_status,
        "factor_source": handover.factor_source,
        "co2e_avoided_kg": handover.co2e_avoided_kg,
        "confirmation": confirmation,
    }
