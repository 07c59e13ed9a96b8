"""Schema helpers shared by both engines.

Delta stores its schema as the JSON of a Spark ``StructType``, so a Spark schema maps to a
Delta schema and back without a type table. Stored schemas are all-nullable (as Spark's
own Delta writer makes them): a DataFrame's nullability flags depend on how it was built
(a literal column is non-nullable), which must not make appends fail.
"""
from __future__ import annotations

import json
from typing import Any

from pyspark.sql.types import DataType, StructType

from .errors import SchemaMismatch


def _nullable_json(t: Any) -> Any:
    if isinstance(t, dict):
        kind = t.get("type")
        out = dict(t)
        if kind == "struct":
            out["fields"] = [dict(_nullable_json(f), nullable=True) for f in t["fields"]]
        elif kind == "array":
            out["elementType"] = _nullable_json(t["elementType"])
            out["containsNull"] = True
        elif kind == "map":
            out["keyType"] = _nullable_json(t["keyType"])
            out["valueType"] = _nullable_json(t["valueType"])
            out["valueContainsNull"] = True
        elif "name" in t and "type" in t:          # a struct field
            out["type"] = _nullable_json(t["type"])
        return out
    return t


def as_nullable(schema: StructType) -> StructType:
    """``schema`` with every field, array element and map value nullable."""
    return StructType.fromJson(_nullable_json(json.loads(schema.json())))


def type_string(t: DataType) -> str:
    """Type text used in comparisons and messages (``simpleString`` omits nullability)."""
    return t.simpleString()


def check_same_columns(table: str, table_schema: StructType, data_schema: StructType,
                       action: str = "append to") -> None:
    """Raise :class:`SchemaMismatch` unless the data has exactly the table's columns with
    the same types (order and nullability aside). Done before any engine sees the data:
    delta-rs silently casts some types and its messages do not name the columns."""
    tcols = {f.name: type_string(f.dataType) for f in table_schema.fields}
    dcols = {f.name: type_string(f.dataType) for f in data_schema.fields}
    missing = [c for c in tcols if c not in dcols]
    extra = [c for c in dcols if c not in tcols]
    different = {c: (tcols[c], dcols[c]) for c in tcols if c in dcols and tcols[c] != dcols[c]}
    if missing or extra or different:
        raise SchemaMismatch(table, missing, extra, different, action)


def check_columns_exist(table: str, schema: StructType, columns: list[str], role: str) -> None:
    from .errors import TableStoreError
    names = schema.fieldNames()
    absent = [c for c in columns if c not in names]
    if absent:
        raise TableStoreError(f"{table}: {role} column(s) {', '.join(absent)} not in the data "
                              f"(columns: {', '.join(names)})")
