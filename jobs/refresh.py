"""spark-submit entry point of the `refresh` stage: `./spark-submit.sh refresh --raw NEW_EXPORTS`."""
from patentpanel.cli import stage_entry

if __name__ == "__main__":
    stage_entry("refresh")
