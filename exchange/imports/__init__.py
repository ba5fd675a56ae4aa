"""Stock files turned into offers: a CSV or XLSX file and a column mapping, read row by row and fed, in
batches, through the bulk upsert (exchange.bulk.offers_upsert), keyed by the firm's `external_ref`.

- The file is checked when it is sent (offer_import_create): its format is read from the bytes (XLSX is
  a zip holding xl/workbook.xml; anything else must decode as text), its size and row count are bounded
  (BOUCLE_IMPORT_MAX_BYTES, BOUCLE_IMPORT_MAX_ROWS), and every column the mapping names must be in its
  header. A file refused there is never stored.
- CSV: UTF-8 with or without BOM, UTF-16 with BOM, else Windows-1252 (what Excel writes in France);
  the delimiter (`;`, `,` or tab) is the one the header line holds most. XLSX: the first sheet, read
  streaming (openpyxl, read_only, computed values).
- Cells are text in a CSV and typed in an XLSX; both are converted here, by the type of the offer field
  they fill: decimals with a point or a comma ("12,5"), whole ids, booleans (true/false, oui/non, 1/0),
  dates (ISO 8601 or dd/mm/yyyy). Every business rule stays in exchange.services, which the upsert
  calls: this module only turns cells into the values those services take.
- A blank cell is a field not given: the mapping's default for it applies, if any; on an offer that
  already exists, the field stays as it is.
- Rows are numbered as a spreadsheet shows them (the header is row 1). Blank rows are skipped.
- The worker (offer_import_process) commits each batch together with the import's progress, so a
  task delivered again after a crash resumes after the last committed batch, and two workers cannot
  both apply one batch. The same file sent twice creates nothing new: every row is `unchanged`.
"""

from __future__ import annotations

from .cells import CellConverter, CellRefused
from .limits import (
    CHOICES,
    CONFLICT_FIELDS,
    FALSE_WORDS,
    KEY_FIELD,
    MAX_COLUMNS,
    MAX_HEADER_LENGTH,
    MAX_INFLATION,
    MAX_STORED_ERRORS,
    REQUIRED_TO_CREATE,
    TARGET_FIELDS,
    TRUE_WORDS,
    ImportRejected,
)
from .mappings import (
    import_mapping_create,
    import_mapping_delete,
    import_mapping_get,
    import_mapping_update,
    import_mappings_of,
    mapping_clean,
)
from .reading import Table, table_read
from .rows import RowReader
from .runs import import_counts, offer_import_create, offer_import_get, offer_import_process, offer_imports_of

__all__ = [
    "CHOICES",
    "CONFLICT_FIELDS",
    "CellConverter",
    "CellRefused",
    "FALSE_WORDS",
    "ImportRejected",
    "KEY_FIELD",
    "MAX_COLUMNS",
    "MAX_HEADER_LENGTH",
    "MAX_INFLATION",
    "MAX_STORED_ERRORS",
    "REQUIRED_TO_CREATE",
    "RowReader",
    "TARGET_FIELDS",
    "TRUE_WORDS",
    "Table",
    "import_counts",
    "import_mapping_create",
    "import_mapping_delete",
    "import_mapping_get",
    "import_mapping_update",
    "import_mappings_of",
    "mapping_clean",
    "offer_import_create",
    "offer_import_get",
    "offer_import_process",
    "offer_imports_of",
    "table_read",
]
