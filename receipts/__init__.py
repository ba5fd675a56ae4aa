"""Tax receipts for gifts in kind (CERFA n° 16216*01, art. 200, 238 bis and 978 CGI): an association of
general interest issues a receipt to a firm for its collected donations over a period, valued from the
ledger (quantity × the unit value stamped on each row). The layer right after `claims`: it reads the
ledger; higher layers may import it, it imports none of them.

- `models`: receipts, their lines and cancellations (immutable: database triggers), the numbering
  counter per association and year.
- `rules`: pure figures: a line's value, the reference, the 238 bis arithmetic.
- `services`: issue and cancel; `numbering`: the next number, under the counter row's lock;
  `lines`: which ledger rows a receipt may hold.
- `selectors`: the receipts an actor may see, yearly totals and their CSV table.
- `words`: amounts in French words; `pdf`: the printed receipt.
"""
