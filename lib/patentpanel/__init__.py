"""patentpanel: raw patent application records to city-level evidence on AI innovation.

The importable library behind the jobs in ``jobs/``: configuration, the Spark session
factory, the Delta table store, every pipeline stage and the econometric estimators.
"""
__version__ = "0.1.0"
