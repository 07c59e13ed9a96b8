"""spark-submit entry point of the `report` stage: `./spark-submit.sh report --help`."""
from patentpanel.cli import stage_entry

if __name__ == "__main__":
    stage_entry("report")
