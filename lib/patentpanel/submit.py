"""Build and run the ``spark-submit`` command for a stage (behind ``./spark-submit.sh``).

``./spark-submit.sh [options] <stage> [stage options]``:
- ships the package as a zip (``--py-files``), the configuration as ``--files`` (the
  base YAML) plus ``--archives conf.zip#conf`` (the whole tree, unpacked as ``conf/`` in
  the working directory of a cluster-mode driver and of executors);
- passes ``--master``, ``--deploy-mode``, ``--conf`` and resource options through; without
  ``--master`` it runs locally with the master and driver memory of ``conf/``;
- ``--with-packages`` adds the Maven coordinates of delta-spark and GraphFrames that match
  the installed pyspark and Scala versions (and the installed delta-spark /
  graphframes-py versions where present; ``conf/packages.yaml`` otherwise);
- ``--jars DIR`` ships every JAR in DIR (clusters without internet);
- ``--pack-env`` packs the virtual environment with venv-pack and ships it with
  ``--archives`` so executors get numpy, statsmodels and linearmodels;
- ``--dry-run`` prints the final command instead of running it.
"""
from __future__ import annotations

import argparse
import glob
import os
import re
import shlex
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import yaml

from . import __version__
from .cli import STAGES
from .config import conf_dir, load_config

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class SparkBuild:
    spark_version: str
    scala_binary: str
    spark_home: Path


def spark_build() -> SparkBuild:
    """Spark and Scala versions of the Spark that spark-submit will use
    ($SPARK_HOME if set, else the installed pyspark)."""
    home = Path(os.environ["SPARK_HOME"]) if os.environ.get("SPARK_HOME") else None
    if home is None:
        import pyspark
        home = Path(pyspark.__file__).parent
    jars = sorted(glob.glob(str(home / "jars" / "spark-core_*-*.jar")))
    if not jars:
        raise FileNotFoundError(f"no spark-core JAR under {home / 'jars'}: is SPARK_HOME a Spark distribution?")
    m = re.search(r"spark-core_(\d+\.\d+)-(\d+\.\d+\.\d+[^/]*)\.jar$", jars[-1])
    if not m:
        raise ValueError(f"cannot read Spark/Scala versions from {jars[-1]}")
    return SparkBuild(spark_version=m.group(2), scala_binary=m.group(1), spark_home=home)


def _installed(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def maven_coordinates(build: SparkBuild | None = None, table: dict | None = None) -> dict[str, str]:
    """Coordinates of delta-spark and GraphFrames for this Spark build.

    Versions come from the installed Python packages (delta-spark, graphframes-py: each
    pairs with the JVM artifact of the same version), else from the compatibility table
    in ``conf/packages.yaml`` keyed by Spark ``major.minor``.
    """
    build = build or spark_build()
    if table is None:
        table = yaml.safe_load((conf_dir() / "packages.yaml").read_text(encoding="utf-8"))
    minor = ".".join(build.spark_version.split(".")[:2])
    major = build.spark_version.split(".")[0]
    row = table.get("compatibility", {}).get(minor)
    delta = _installed("delta-spark") or (row or {}).get("delta")
    graphframes = _installed("graphframes-py") or (row or {}).get("graphframes")
    if not delta or not graphframes:
        raise ValueError(f"no delta-spark/GraphFrames versions known for Spark {minor}: install the "
                         f"'cluster' extra or add Spark {minor} to conf/packages.yaml")
    return {
        "delta": f"io.delta:delta-spark_{build.scala_binary}:{delta}",
        "graphframes": f"io.graphframes:graphframes-spark{major}_{build.scala_binary}:{graphframes}",
    }


def build_package_zip(dist: Path) -> Path:
    """Zip lib/patentpanel (sources only) for --py-files; rebuilt when a source changed."""
    src = ROOT / "lib" / "patentpanel"
    out = dist / f"patentpanel-{__version__}.zip"
    files = sorted(p for p in src.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                   and p.suffix not in (".pyc", ".pyo"))
    newest = max(p.stat().st_mtime for p in files)
    if out.exists() and out.stat().st_mtime >= newest:
        return out
    dist.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in files:
            # fixed timestamps: the same sources give the same zip
            info = zipfile.ZipInfo(str(p.relative_to(src.parent)), date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, p.read_bytes())
    tmp.replace(out)
    return out


def build_conf_zip(dist: Path, conf: Path) -> Path:
    out = dist / "conf.zip"
    dist.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(conf.rglob("*")):
            if p.is_file():
                info = zipfile.ZipInfo(str(p.relative_to(conf)), date_time=(2020, 1, 1, 0, 0, 0))
                zf.writestr(info, p.read_bytes())
    tmp.replace(out)
    return out


#: Left out of the environment archive: the JVM side comes from the cluster's own Spark
#: (executors' Python workers import pyspark's Python code only), which saves ~400 MB.
PACK_EXCLUDES = ("lib/python*/site-packages/pyspark/jars/*",)


class PackError(RuntimeError):
    """The virtual environment cannot be packed."""


def _site_packages(prefix: Path) -> Path:
    found = sorted(prefix.glob("lib/python3*/site-packages"))
    if not found:
        raise PackError(f"{prefix} is not a virtual environment (no lib/python3*/site-packages)")
    return found[-1]


def _editable_installs(prefix: Path, site: Path) -> tuple[list[str], list[str]]:
    """(files of this project's editable install, other editable installs) in ``site``.

    An editable install of patentpanel is fine: the package ships as the ``--py-files``
    zip, so its ``.pth`` (and finder module) are left out of the archive and executors
    import the zip. Any other editable package would be missing on the executors.
    """
    own_src = (ROOT / "lib").resolve()
    own: list[str] = []
    others: list[str] = []
    for pth in sorted(site.glob("*.pth")):
        entries = [ln.strip() for ln in pth.read_text(encoding="utf-8", errors="replace").splitlines()
                   if ln.strip() and not ln.lstrip().startswith("#")]
        finders = [e for e in entries if e.startswith("import ") and "__editable__" in e]
        paths = [e for e in entries if not e.startswith("import ")
                 and not (site / e).resolve().is_relative_to(prefix)]
        if not finders and not paths:
            continue   # ordinary .pth (distutils-precedence, namespace packages)
        ours = pth.name.startswith("__editable__.patentpanel-") or \
            (not finders and all((site / e).resolve() == own_src for e in paths))
        if ours:
            own.append(pth.name)
        else:
            others.extend(f"{pth.name}: {e}" for e in finders + paths)
    if own:
        own += sorted(p.name for p in site.glob("__editable___patentpanel*finder.py"))
    return own, others


def _env_key(prefix: Path, site: Path, options: tuple) -> str:
    """Fingerprint of the installed distributions and the pack options: a new archive is
    built when a package is added, removed or upgraded."""
    import hashlib
    dists = sorted(f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions(path=[str(site)]))
    h = hashlib.sha256("\n".join([sys.version, str(prefix), *dists, *map(str, options)]).encode())
    return h.hexdigest()[:12]


def pack_env(dist: Path, prefix: str | os.PathLike | None = None, *,
             python_prefix: str | None = None, compress_level: int = 1,
             force: bool = False) -> Path:
    """A relocatable ``.tar.gz`` of the virtual environment ``prefix`` (default: this one),
    built with venv-pack and cached in ``dist`` under a fingerprint of its packages.

    Unpacked as ``./environment`` on the executors, ``./environment/bin/python`` runs
    with the archive's site-packages. The interpreter itself is not in the archive:
    ``bin/python`` links to the base Python this venv was made from, so the executors
    need the same Python version at the same path, or at ``python_prefix`` (e.g. ``/usr``).
    Left out: pyspark's JARs (:data:`PACK_EXCLUDES`) and this project's own editable
    install (shipped as the ``--py-files`` zip instead); any other editable package is
    an error, since executors would not have it.
    """
    try:
        from venv_pack import core as vp
    except ImportError:
        raise PackError("--pack-env needs venv-pack in this environment: "
                        "pip install venv-pack") from None
    prefix = Path(prefix or sys.prefix).resolve()
    if prefix == Path(sys.base_prefix).resolve():
        raise PackError(f"{prefix} is the base Python, not a virtual environment; "
                        "run ./spark-submit.sh from the project's .venv")
    site = _site_packages(prefix)
    own, others = _editable_installs(prefix, site)
    if others:
        raise PackError("cannot pack editable installs other than patentpanel's (executors "
                        "would not have them); reinstall without -e: " + "; ".join(others))
    rel_site = site.relative_to(prefix)
    excludes = (*PACK_EXCLUDES, *(str(rel_site / name) for name in own))
    key = _env_key(prefix, site, (python_prefix, compress_level, *excludes))
    out = Path(dist) / f"patentpanel-env-{key}.tar.gz"
    if out.exists() and not force:
        return out
    Path(dist).mkdir(parents=True, exist_ok=True)
    # venv-pack 0.2 refuses any environment with an editable install and has no switch
    # for it; its check is replaced, for this call only, by the one above (which allowed
    # exactly this project's install, excluded below).
    original = vp.check_no_editable_packages
    vp.check_no_editable_packages = lambda context: None
    try:
        env = vp.Env(str(prefix))
    finally:
        vp.check_no_editable_packages = original
    for pattern in excludes:
        env = env.exclude(pattern)
    tmp = out.with_name(out.name + ".tmp")
    env.pack(output=str(tmp), format="tar.gz", python_prefix=python_prefix,
             compress_level=compress_level, force=True)
    tmp.chmod(0o644)   # venv-pack writes 0600; others on a shared gateway may submit it
    tmp.replace(out)
    return out


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="spark-submit.sh",
        usage="./spark-submit.sh [options] STAGE [stage options]",
        description="Run a patentpanel stage through spark-submit. Stages: " + ", ".join(STAGES))
    p.add_argument("--master", help="Spark master URL (default: spark.master of conf/, local mode)")
    p.add_argument("--deploy-mode", choices=["client", "cluster"])
    p.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE", dest="spark_conf",
                   help="a Spark setting, passed to spark-submit (repeatable)")
    p.add_argument("--name")
    for opt in ("--driver-memory", "--executor-memory", "--executor-cores", "--num-executors",
                "--total-executor-cores"):
        p.add_argument(opt)
    p.add_argument("--with-packages", action="store_true",
                   help="add delta-spark and GraphFrames Maven coordinates (needs Maven access)")
    p.add_argument("--jars", metavar="DIR", help="ship every JAR in DIR (clusters without internet)")
    p.add_argument("--pack-env", action="store_true",
                   help="ship a venv-pack archive of this environment to the executors "
                        "(built once per package set, cached in dist/)")
    p.add_argument("--pack-python-prefix", metavar="PREFIX",
                   help="with --pack-env: where the executors' base Python 3 lives (e.g. /usr), "
                        "if not at this venv's base path")
    p.add_argument("--dist", default=str(ROOT / "dist"), help=argparse.SUPPRESS)
    p.add_argument("--dry-run", action="store_true", help="print the command, do not run it")
    p.add_argument("stage", choices=list(STAGES), metavar="STAGE")
    p.add_argument("stage_args", nargs=argparse.REMAINDER)
    return p


def build_command(argv: list[str]) -> tuple[list[str], dict[str, str], argparse.Namespace]:
    """The spark-submit argv, the environment additions and the parsed options."""
    args = _parser().parse_args(argv)
    # The stage's own --config/--set/--conf-dir also choose the master and memory defaults.
    sa = args.stage_args
    overlays = [sa[i + 1] for i, a in enumerate(sa[:-1]) if a == "--config"]
    sets = [sa[i + 1] for i, a in enumerate(sa[:-1]) if a == "--set"]
    cdir = next((sa[i + 1] for i, a in enumerate(sa[:-1]) if a == "--conf-dir"), None)
    cfg = load_config(overlays, sets, cdir)
    build = spark_build()
    dist = Path(args.dist)
    conf = cfg.directory
    submit = str(build.spark_home / "bin" / "spark-submit")
    cmd = [submit]
    master = args.master or cfg.get("spark.master")
    cmd += ["--master", master]
    if args.deploy_mode:
        cmd += ["--deploy-mode", args.deploy_mode]
    cmd += ["--name", args.name or f"patentpanel-{args.stage}"]
    local = master.startswith("local")
    if args.driver_memory or local:
        cmd += ["--driver-memory", args.driver_memory or cfg.get("spark.driver_memory")]
    for opt in ("executor_memory", "executor_cores", "num_executors", "total_executor_cores"):
        if getattr(args, opt):
            cmd += ["--" + opt.replace("_", "-"), str(getattr(args, opt))]
    python = sys.executable
    env: dict[str, str] = {}
    archives = [f"{build_conf_zip(dist, conf)}#conf"]
    if args.pack_env:
        try:
            env_archive = pack_env(dist, python_prefix=args.pack_python_prefix)
        except PackError as exc:
            raise SystemExit(f"spark-submit.sh: --pack-env: {exc}") from None
        archives.append(f"{env_archive}#environment")
        python_exec = "./environment/bin/python"
        cmd += ["--conf", f"spark.pyspark.python={python_exec}"]
        if args.deploy_mode == "cluster":
            cmd += ["--conf", f"spark.pyspark.driver.python={python_exec}"]
        else:
            cmd += ["--conf", f"spark.pyspark.driver.python={python}"]
    else:
        cmd += ["--conf", f"spark.pyspark.python={python}",
                "--conf", f"spark.pyspark.driver.python={python}"]
    if local:
        env["SPARK_LOCAL_IP"] = os.environ.get("SPARK_LOCAL_IP", "127.0.0.1")
    if args.deploy_mode != "cluster":
        # The driver runs here: it reads this conf/ directly (the package itself is
        # imported from the zip, so conf/ cannot be found beside it), with quiet logs.
        from .session import _log4j_file
        env["PATENTPANEL_CONF_DIR"] = str(conf)
        if not any(c.startswith("spark.driver.extraJavaOptions=") for c in args.spark_conf):
            cmd += ["--conf", "spark.driver.extraJavaOptions=-Dlog4j2.configurationFile="
                    f"{_log4j_file(cfg.get('spark.log_level'))}"]
    for item in args.spark_conf:
        if "=" not in item:
            raise SystemExit(f"spark-submit.sh: --conf {item!r}: expected KEY=VALUE")
        cmd += ["--conf", item]
    if args.with_packages:
        coords = maven_coordinates(build)
        cmd += ["--packages", ",".join(coords.values())]
    if args.jars:
        jars = sorted(glob.glob(os.path.join(args.jars, "*.jar")))
        if not jars:
            raise SystemExit(f"spark-submit.sh: --jars {args.jars}: no .jar files there")
        cmd += ["--jars", ",".join(jars)]
    cmd += ["--py-files", str(build_package_zip(dist)),
            "--files", str(conf / "patentpanel.yaml"),
            "--archives", ",".join(archives)]
    job = ROOT / "jobs" / f"{args.stage.replace('-', '_')}.py"
    cmd += [str(job), *args.stage_args]
    return cmd, env, args


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    cmd, env, args = build_command(argv)
    if args.dry_run:
        print(" ".join(shlex.quote(c) for c in cmd))
        return 0
    full_env = {**os.environ, **env}
    return subprocess.call(cmd, env=full_env)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
