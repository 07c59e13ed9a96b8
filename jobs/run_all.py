"""spark-submit entry point of the `run-all` stage: `./spark-submit.sh run-all --help`."""
from patentpanel.cli import stage_entry

if __name__ == "__main__":
    stage_entry("run-all")
