"""Exceptions raised by the table store. All derive from :class:`TableStoreError`, so a
stage can catch one type; each message names the table and what was expected."""
from __future__ import annotations


class TableStoreError(Exception):
    """A table-store operation cannot be done as asked."""


class TableNotFound(TableStoreError):
    """The named table (or the requested version of it) does not exist."""


class SchemaMismatch(TableStoreError):
    """Appended or merged data does not have the table's columns and types.

    ``missing`` are table columns absent from the data, ``extra`` data columns absent from
    the table, ``different`` maps a column to ``(table type, data type)``.
    """

    def __init__(self, table: str, missing: list[str], extra: list[str],
                 different: dict[str, tuple[str, str]], action: str = "append to"):
        self.table = table
        self.missing = list(missing)
        self.extra = list(extra)
        self.different = dict(different)
        parts = []
        if missing:
            parts.append("missing columns " + ", ".join(missing))
        if extra:
            parts.append("extra columns " + ", ".join(extra))
        if different:
            parts.append("different types " + ", ".join(
                f"{c} (table {t}, data {d})" for c, (t, d) in different.items()))
        super().__init__(f"cannot {action} {table}: the data's schema does not match the "
                         f"table's: {'; '.join(parts)}. Overwrite the table to change its schema.")


class DuplicateKeys(TableStoreError):
    """A merge source holds more than one row (or a null) for some key."""

    def __init__(self, table: str, keys: list[str], examples: list[dict], null_keys: bool = False):
        self.table = table
        self.keys = list(keys)
        self.examples = list(examples)
        shown = "; ".join(", ".join(f"{k}={row.get(k)!r}" for k in keys)
                          + (f" ({row['count']} rows)" if "count" in row else "")
                          for row in examples)
        what = "null or duplicate" if null_keys else "duplicate"
        super().__init__(f"cannot merge into {table}: the source has {what} keys "
                         f"({', '.join(keys)}); merge needs one row per key, e.g. {shown}")
