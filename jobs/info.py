"""spark-submit entry point of the `info` stage: configuration and active engines."""
from patentpanel.cli import stage_entry

if __name__ == "__main__":
    stage_entry("info")
