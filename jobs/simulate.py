"""spark-submit entry point of the `simulate` stage: `./spark-submit.sh simulate --help`."""
from patentpanel.cli import stage_entry

if __name__ == "__main__":
    stage_entry("simulate")
