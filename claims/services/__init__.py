"""State changes of claims and of the handover ledger. One function per change, in a transaction, called
alike by views, the admin, commands and tasks. By part: `claims` (request, accept, decline, cancel,
expire), `handovers` (the ledger's rows and their corrections), `answers` (confirm, dispute, tacit
confirmation), `reversals`; `_common` holds the clock, events and locks they share.

Quantities. An offer's stock (remaining + reserved + collected = quantity) is exchange.lifecycle's: claims
ask it to take stock, give it back and close the offer when all is gone; they never write those columns.
A *requested* claim holds nothing: it is checked against the remaining quantity when made (to refuse
early, 409 with `remaining_quantity`), and again, atomically, when accepted (exchange.lifecycle.stock_take:
one conditional UPDATE whose row count says whether it won). The CHECK constraint
0 ≤ remaining ≤ quantity is the last guard. Declining, cancelling and expiring give back what was taken;
a handover moves what was collected from reserved to collected and gives back the rest.

A reversal corrects the ledger, not the stock: goods that left the yard do not come back to the offer,
and the claim stays collected.

Locks are taken in one order: claimant organisation → claim → offer → ledger row. The claimant's row
serialises what is counted per recipient: the caps on open claims, and its standing for automatic
acceptance (strikes and automatically accepted claims, see claims/selectors/reveal.py).

Clock. Every service takes `now`, for the system's seeding path only (demo data spread over a year):
people and API keys always act at the present time.
"""

from ._common import CLOCK_SKEW, MAX_PICKUP_DAYS, handover_lock, handover_lock_unreversed
from .answers import (
    handover_confirm,
    handover_confirm_tacitly,
    handover_dispute,
    handovers_awaiting_tacit_confirmation,
)
from .claims import (
    DEAD_OFFER_STATUSES,
    claim_accept,
    claim_cancel,
    claim_decline,
    claim_expire,
    claim_request,
    claims_decline_on_dead_offers,
    claims_overdue,
    claims_requested_on_dead_offers,
)
from .handovers import correction_write, handover_record
from .reversals import handover_reverse, reversal_write

__all__ = [
    "CLOCK_SKEW",
    "DEAD_OFFER_STATUSES",
    "MAX_PICKUP_DAYS",
    "claim_accept",
    "claim_cancel",
    "claim_decline",
    "claim_expire",
    "claim_request",
    "claims_decline_on_dead_offers",
    "claims_overdue",
    "claims_requested_on_dead_offers",
    "correction_write",
    "handover_confirm",
    "handover_confirm_tacitly",
    "handover_dispute",
    "handover_lock",
    "handover_lock_unreversed",
    "handover_record",
    "handover_reverse",
    "handovers_awaiting_tacit_confirmation",
    "reversal_write",
]
