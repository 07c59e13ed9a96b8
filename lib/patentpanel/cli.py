"""Command line: ``patentpanel <stage> [options]`` and the spark-submit entry points.

Each stage lives in a library module that exposes ``add_arguments(parser)`` and
``run(ctx, args) -> dict`` (a small summary: counts, seconds, tables written). The
registry below maps stage names to those modules, imported only when the stage runs.
``jobs/<stage>.py`` calls :func:`main` with its stage name, so a stage parses the same
arguments whether it runs under spark-submit or as a console command.
"""
from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

from . import __version__
from .config import Config, ConfigError, load_config

log = logging.getLogger("patentpanel")

# stage name -> (module, one-line help). Order is the pipeline order.
STAGES: dict[str, tuple[str, str]] = {
    "info": ("patentpanel.stages.info", "show the effective configuration and active engines"),
    "simulate": ("patentpanel.simulate.job", "write simulated raw exports and the truth manifest"),
    "ingest": ("patentpanel.ingest.job", "raw exports -> bronze.patent_records (+ quarantine)"),
    "clean": ("patentpanel.clean.job", "bronze -> silver.patents / applicants / organisations"),
    "classify": ("patentpanel.classify.job", "silver.patents -> silver.ai_patents (AI flag, tier)"),
    "network": ("patentpanel.network.job", "co-application edges, centrality, LQ and clusters"),
    "panels": ("patentpanel.panels.job", "gold city-year and firm-year panels, descriptives"),
    "estimate": ("patentpanel.econ.job", "every estimation of both studies"),
    "report": ("patentpanel.report.job", "paper-style tables, figures and reports/index.html"),
    "run-all": ("patentpanel.stages.run_all", "every stage from raw records to reports"),
    "refresh": ("patentpanel.stages.refresh", "merge new raw exports and recompute what depends on them"),
}


@dataclass
class RunContext:
    """What a stage needs: the configuration and, created on first use, the Spark
    session and the table store."""
    cfg: Config
    app_name: str = "patentpanel"
    _spark: Any = field(default=None, repr=False)
    _engines: Any = field(default=None, repr=False)
    _store: Any = field(default=None, repr=False)

    @property
    def spark(self):
        if self._spark is None:
            from .session import build_session
            self._spark, self._engines = build_session(self.cfg, self.app_name)
        return self._spark

    @property
    def engines(self):
        _ = self.spark
        return self._engines

    @property
    def store(self):
        if self._store is None:
            from .storage import TableStore
            self._store = TableStore(self.spark, self.cfg.get("lake.root"),
                                     engine=self.engines.storage,
                                     storage_options=self.cfg.get("lake.storage_options") or None)
        return self._store

    @property
    def seed(self) -> int:
        return int(self.cfg.get("run.seed"))


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    g = common.add_argument_group("configuration")
    g.add_argument("--config", action="append", default=[], metavar="FILE",
                   help="overlay YAML file (repeatable; later files win)")
    g.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="sets",
                   help="override one key, e.g. --set lake.root=/data/lake (repeatable)")
    g.add_argument("--conf-dir", default=None, help="directory holding patentpanel.yaml")
    g.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    g.add_argument("--json", action="store_true", help="print the stage summary as JSON")

    parser = argparse.ArgumentParser(
        prog="patentpanel", description="Raw patent records to city-level AI-innovation evidence.")
    parser.add_argument("--version", action="version", version=f"patentpanel {__version__}")
    sub = parser.add_subparsers(dest="stage", metavar="STAGE", required=True)
    for name, (module, help_text) in STAGES.items():
        sp = sub.add_parser(name, parents=[common], help=help_text, description=help_text)
        sp.set_defaults(_module=module)
    return parser


def _add_stage_arguments(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace:
    """Parse twice: first to find the stage, then with the stage's own arguments.

    The first pass ignores ``-h/--help``, which would otherwise print the stage's help
    before its own arguments (``--records`` ...) were added to it."""
    if not any(a in STAGES for a in argv):
        return parser.parse_args(argv)  # no stage: top-level help, --version or the usage error
    known, _ = parser.parse_known_args([a for a in argv if a not in ("-h", "--help")])
    module = importlib.import_module(known._module)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    stage_parser = sub.choices[known.stage]
    if hasattr(module, "add_arguments"):
        module.add_arguments(stage_parser)
    args = parser.parse_args(argv)
    args._run = module.run
    return args


class _CurrentStderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of each record (test runners and
    notebooks replace it), never to a stream that has since been closed."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def configure_logging(quiet: bool = False) -> None:
    root = logging.getLogger("patentpanel")
    if not root.handlers:
        h = _CurrentStderr()
        h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s",
                                         "%H:%M:%S"))
        root.addHandler(h)
    root.setLevel(logging.WARNING if quiet else logging.INFO)
    root.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    """Run one stage; returns the process exit code (0 ok, 2 bad usage/config, 1 failure)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    try:
        args = _add_stage_arguments(parser, argv)
    except ModuleNotFoundError as exc:
        print(f"patentpanel: stage not available in this build ({exc.name})", file=sys.stderr)
        return 2
    configure_logging(args.quiet)
    try:
        cfg = load_config(args.config, args.sets, args.conf_dir)
    except ConfigError as exc:
        print(f"patentpanel: configuration error: {exc}", file=sys.stderr)
        return 2
    ctx = RunContext(cfg, app_name=f"patentpanel-{args.stage}")
    t0 = time.perf_counter()
    try:
        summary = args._run(ctx, args) or {}
    except ConfigError as exc:
        print(f"patentpanel: configuration error: {exc}", file=sys.stderr)
        return 2
    summary.setdefault("stage", args.stage)
    summary.setdefault("seconds", round(time.perf_counter() - t0, 2))
    if args.json:
        print(json.dumps(summary, default=str, ensure_ascii=False, indent=2))
    else:
        log.info("%s done in %.1f s: %s", args.stage, summary["seconds"],
                 ", ".join(f"{k}={v}" for k, v in summary.items() if k not in ("stage", "seconds")))
    return 0


def stage_entry(stage: str) -> None:
    """Entry for ``jobs/<stage>.py`` under spark-submit."""
    sys.exit(main([stage, *sys.argv[1:]]))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
