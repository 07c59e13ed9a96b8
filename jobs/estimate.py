"""spark-submit entry point of the `estimate` stage: `./spark-submit.sh estimate --help`."""
from patentpanel.cli import stage_entry

if __name__ == "__main__":
    stage_entry("estimate")
