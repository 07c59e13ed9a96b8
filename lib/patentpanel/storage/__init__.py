"""Delta table store: named tables (``bronze.*``, ``silver.*``, ``gold.*``) under the
lake root, on Spark's Delta or the embedded delta-rs engine (same on-disk format)."""
from .errors import DuplicateKeys, SchemaMismatch, TableNotFound, TableStoreError
from .store import ENGINES, LAYERS, MODES, TableStore

__all__ = ["TableStore", "TableStoreError", "SchemaMismatch", "DuplicateKeys", "TableNotFound",
           "ENGINES", "LAYERS", "MODES"]
