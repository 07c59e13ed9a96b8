"""spark-submit entry point of the `panels` stage: `./spark-submit.sh panels --help`."""
from patentpanel.cli import stage_entry

if __name__ == "__main__":
    stage_entry("panels")
