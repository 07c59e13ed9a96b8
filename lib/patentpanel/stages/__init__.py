"""Stages that orchestrate others (run-all) or only report (info)."""
