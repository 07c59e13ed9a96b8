"""Paper-style tables, figures, reports/index.html and lineage (the ``report`` stage).

``tables`` (Table model and renderers, regression tables from gold.estimates or result
objects), ``paper`` (the non-regression tables), ``figures`` (matplotlib), ``lineage``
(Delta versions, config fingerprint, package version, seeds), ``html`` (index.html) and
``job`` (the stage).
"""
from .lineage import Lineage
from .tables import ModelColumn, RegressionLayout, Table, regression_table, star_marks

__all__ = ["Lineage", "ModelColumn", "RegressionLayout", "Table", "regression_table", "star_marks"]
