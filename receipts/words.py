"""An amount in euros in French words, as a receipt writes it ("quatre-vingts euros"), with num2words.

num2words (0.5.14) gets the numbers right but not all of the currency: it writes "et zéro centimes"
after whole amounts, "zéro euros et un centime" for cents only, and "un million euros" where French
says "un million d'euros" (a noun of quantity takes "de"). Those three are corrected here."""

from __future__ import annotations

import re
from decimal import Decimal

from num2words import num2words

_NO_CENTS = re.compile(r" et zéro centimes?$")
_NO_EUROS = re.compile(r"^zéro euros? et ")
_MILLIONS = re.compile(r"\b(millions?|milliards?) euros\b")


def amount_in_words(amount: Decimal) -> str:
    """`amount` (euros, to the cent) in French words."""
    text: str = num2words(amount.quantize(Decimal("0.01")), lang="fr", to="currency", currency="EUR")
    text = _NO_CENTS.sub("", text)
    text = _NO_EUROS.sub("", text)
    return _MILLIONS.sub(r"\1 d'euros", text)
