"""SparkSession factory and engine detection.

Local mode by default, with settings for a 2-core laptop. Under ``spark-submit`` the
session takes the master, deploy mode and resources given there and only fills in
settings that were not given. Delta's SQL extension and catalog are switched on only
when Delta's JVM classes are loadable; GraphFrames likewise decides the graph engine.
One log line says which storage and graph engines are active.
"""
from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from .config import Config, ConfigError

log = logging.getLogger("patentpanel")

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"
GRAPHFRAMES_CLASS = "org.graphframes.GraphFramePythonAPI"


@dataclass(frozen=True)
class Engines:
    """Which storage and graph engines a session uses, and why."""
    storage: str          # "delta-spark" | "delta-rs"
    graph: str            # "graphframes" | "dataframe"
    storage_reason: str
    graph_reason: str
    master: str
    spark_version: str
    launched_by_spark_submit: bool

    def describe(self) -> str:
        return (f"spark {self.spark_version} master={self.master} "
                f"storage={self.storage} ({self.storage_reason}) "
                f"graph={self.graph} ({self.graph_reason})")


def release(*frames) -> None:
    """Free what ``persist()`` or ``localCheckpoint()`` holds for each DataFrame.

    ``DataFrame.unpersist()`` frees only ``persist()``'s cache: a (local) checkpoint's
    blocks belong to the RDD under the checkpointed plan (a ``LogicalRDD``) and would stay
    in the executors' memory until the JVM collects that RDD. Call this only when nothing
    will read the frame again: a released local checkpoint cannot be recomputed."""
    for df in frames:
        if df is None:
            continue
        df.unpersist()
        try:
            plan = df._jdf.logicalPlan()
            if plan.getClass().getSimpleName() == "LogicalRDD":
                plan.rdd().unpersist(False)
        except AttributeError:      # Spark Connect: no JVM handle, nothing more to free
            pass


def launched_by_spark_submit() -> bool:
    """True when this Python driver was started by spark-submit (its JVM is already up
    and owns the master and resource settings)."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def jvm_class_available(class_name: str, launch_conf=None) -> bool:
    """Whether the driver JVM can load ``class_name``. Starts the JVM gateway if needed
    (with ``launch_conf``: driver memory and Java options only act at JVM launch) but no
    SparkContext, so static settings such as the SQL extensions can still be chosen."""
    from pyspark import SparkContext
    SparkContext._ensure_initialized(conf=launch_conf)
    jvm = SparkContext._jvm
    try:
        loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
        jvm.java.lang.Class.forName(class_name, False, loader)
        return True
    except Exception:  # py4j wraps ClassNotFoundException
        return False


def _log4j_file(level: str) -> Path:
    """A log4j2 properties file setting the root level (setLogLevel acts only after
    start-up, so start-up noise needs the file)."""
    import tempfile
    path = Path(tempfile.gettempdir()) / f"patentpanel-log4j2-v2-{level.lower()}.properties"
    if not path.exists():
        path.write_text(
            f"rootLogger.level = {level.lower()}\n"
            # pyspark counts as a shell: Spark resets the root level to the repl logger's
            # level (WARN unless set) and says so on stderr, unless the two agree.
            "logger.repl.name = org.apache.spark.repl.Main\n"
            f"logger.repl.level = {level.lower()}\n"
            "rootLogger.appenderRef.stderr.ref = console\n"
            "appender.console.type = Console\n"
            "appender.console.name = console\n"
            "appender.console.target = SYSTEM_ERR\n"
            "appender.console.layout.type = PatternLayout\n"
            "appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex\n",
            encoding="utf-8")
    return path


def _choose(kind: str, wanted: str, class_name: str, jar_engine: str, embedded: str,
            launch_conf=None) -> tuple[str, str]:
    available = jvm_class_available(class_name, launch_conf)
    if wanted == "auto":
        if available:
            return jar_engine, f"{class_name.split('.')[-1]} on the classpath"
        return embedded, f"embedded; {class_name} not on the classpath"
    if wanted == jar_engine and not available:
        raise ConfigError(f"{kind}.engine={jar_engine} but {class_name} is not on the classpath; "
                          f"run through ./spark-submit.sh --with-packages or --jars DIR, "
                          f"or set {kind}.engine=auto")
    return wanted, "chosen in configuration"


def build_session(cfg: Config, app_name: str | None = None, *, test: bool = False):
    """Create (or return the active) SparkSession configured from ``cfg['spark']``.

    Returns ``(spark, engines)``. ``test=True`` keeps the UI off and the log quiet
    whatever the configuration says.
    """
    from pyspark.sql import SparkSession

    from pyspark import SparkConf

    sc_cfg = cfg.section("spark")
    submitted = launched_by_spark_submit()
    launch = SparkConf(loadDefaults=False)
    if not submitted:
        # Settings that only act when the driver JVM starts (local mode: we start it).
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        level = "ERROR" if test else sc_cfg["log_level"]
        java_opts = f"-Dlog4j2.configurationFile={_log4j_file(level)}"
        if sc_cfg.get("java_options"):
            java_opts += " " + str(sc_cfg["java_options"]).strip()
        launch.set("spark.driver.memory", sc_cfg["driver_memory"])
        # Python workers must run this interpreter (the one that has patentpanel and its
        # dependencies), not whatever `python3` is first on the PATH. pyspark's context
        # reads the environment variable, not the setting, for local-mode workers.
        if not os.environ.get("PYSPARK_PYTHON"):
            os.environ["PYSPARK_PYTHON"] = sys.executable
            launch.set("spark.pyspark.python", sys.executable)
        launch.set("spark.driver.extraJavaOptions", java_opts)
        launch.set("spark.executor.extraJavaOptions", java_opts)
    storage, storage_reason = _choose("lake", cfg.get("lake.engine"), DELTA_EXTENSION,
                                      "delta-spark", "delta-rs", launch)
    graph, graph_reason = _choose("graph", cfg.get("graph.engine"), GRAPHFRAMES_CLASS,
                                  "graphframes", "dataframe", launch)
    if graph == "dataframe" and cfg.get("graph.engine") == "auto":
        graph_reason += ("; igraph on the driver up to network.org_graph.driver_max_edges "
                         "edges, DataFrames above")

    wanted: dict[str, str] = {
        "spark.app.name": app_name or sc_cfg["app_name"],
        "spark.sql.shuffle.partitions": str(sc_cfg["shuffle_partitions"]),
        "spark.ui.enabled": "false" if (test or not sc_cfg["ui"]) else "true",
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.maxResultSize": sc_cfg["max_result_size"],
    }
    for k, v in (sc_cfg.get("extra") or {}).items():
        wanted[k] = str(v).lower() if isinstance(v, bool) else str(v)
    if storage == "delta-spark":
        wanted["spark.sql.extensions"] = DELTA_EXTENSION
        wanted["spark.sql.catalog.spark_catalog"] = DELTA_CATALOG

    builder = SparkSession.builder
    if submitted:
        # spark-submit owns master, deploy mode and resources: fill only the gaps.
        given = SparkConf()
        for k, v in wanted.items():
            if not given.contains(k):
                builder = builder.config(k, v)
    else:
        builder = builder.master(sc_cfg["master"])
        for k, v in launch.getAll():
            builder = builder.config(k, v)
        for k, v in wanted.items():
            builder = builder.config(k, v)
    spark = builder.getOrCreate()
    if not submitted:
        spark.sparkContext.setLogLevel("ERROR" if test else sc_cfg["log_level"])
    engines = Engines(storage=storage, graph=graph, storage_reason=storage_reason,
                      graph_reason=graph_reason, master=spark.sparkContext.master,
                      spark_version=spark.version, launched_by_spark_submit=submitted)
    log.info("patentpanel engines: %s", engines.describe())
    return spark, engines
