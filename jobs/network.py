"""spark-submit entry point of the `network` stage: `./spark-submit.sh network --help`."""
from patentpanel.cli import stage_entry

if __name__ == "__main__":
    stage_entry("network")
