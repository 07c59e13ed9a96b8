"""spark-submit entry point of the `ingest` stage: `./spark-submit.sh ingest --help`."""
from patentpanel.cli import stage_entry

if __name__ == "__main__":
    stage_entry("ingest")
