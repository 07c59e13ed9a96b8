"""spark-submit entry point of the `classify` stage: `./spark-submit.sh classify --help`."""
from patentpanel.cli import stage_entry

if __name__ == "__main__":
    stage_entry("classify")
