"""What counts as waste diverted: the one rule behind every tonnage, CO2e and handover figure.

A ledger row counts as diverted unless its offer was a loan (`mode = 'loan'`): lent equipment comes back
to its owner, so it is not diverted from waste and avoids no new production. Loans have indicators of
their own (impact.lending). The rule is stated once here, for SQL (`diverted_sql`) and for the ORM
(`DIVERTED_Q`); the rollup trigger (migration impact/0004) holds a frozen copy of the SQL form."""

from __future__ import annotations

from django.db.models import Q

LOAN_MODE = "loan"


def diverted_sql(alias: str = "h") -> str:
    """SQL condition on a claims_handover row (aliased `alias`): the row counts as diverted."""
    return f"{alias}.mode <> '{LOAN_MODE}'"


def loan_sql(alias: str = "h") -> str:
    """SQL condition on a claims_handover row: the row is a loan."""
    return f"{alias}.mode = '{LOAN_MODE}'"


DIVERTED_Q = ~Q(mode=LOAN_MODE)
LOAN_Q = Q(mode=LOAN_MODE)
