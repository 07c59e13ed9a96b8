"""spark-submit entry point of the `clean` stage: `./spark-submit.sh clean --help`."""
from patentpanel.cli import stage_entry

if __name__ == "__main__":
    stage_entry("clean")
