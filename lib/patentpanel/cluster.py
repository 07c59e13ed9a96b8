"""A Spark standalone cluster on loopback: one master and N one-core workers.

Local mode runs everything in one JVM and one Python driver, which hides what users meet
on a real cluster (code not shipped, driver-local paths, unpicklable closures, missing
packages on executors). The pyspark package ships the standalone master and worker;
:class:`LocalCluster` starts them bound to 127.0.0.1 only, waits until every worker has
registered, and stops exactly the processes it started (by process id), also when the
caller fails (use it as a context manager).

Command line (also ``./spark-submit.sh cluster-up|cluster-down|cluster-status``)::

    python -m patentpanel.cluster up [--workers 2] [--port 7077] [--state DIR]
    python -m patentpanel.cluster down [--state DIR]

``up`` prints the master URL on stdout. The state directory (``$PATENTPANEL_CLUSTER_STATE``,
default ``.cluster/`` in the project) holds the process ids, logs and worker directories;
``$PATENTPANEL_CLUSTER_PORT`` / ``$PATENTPANEL_CLUSTER_WEBUI_PORT`` change the default
ports (0 = any free port).
"""
from __future__ import annotations

import argparse
import atexit
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("patentpanel.cluster")

LOOPBACK = "127.0.0.1"
DEFAULT_STATE = Path(os.environ.get("PATENTPANEL_CLUSTER_STATE",
                                    Path(__file__).resolve().parents[2] / ".cluster"))


_CHILDREN: dict[int, subprocess.Popen] = {}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def _spark_home() -> Path:
    if os.environ.get("SPARK_HOME"):
        return Path(os.environ["SPARK_HOME"])
    import pyspark
    return Path(pyspark.__file__).parent


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((LOOPBACK, port)) == 0


@dataclass
class LocalCluster:
    """A standalone master and ``workers`` workers of ``cores`` cores and ``memory`` each."""
    workers: int = 2
    cores: int = 1
    memory: str = "2g"
    port: int = 0            # 0 = a free port
    webui_port: int = 0
    state_dir: Path = field(default_factory=lambda: DEFAULT_STATE)
    pids: list[int] = field(default_factory=list)

    @property
    def master_url(self) -> str:
        return f"spark://{LOOPBACK}:{self.port}"

    def _env(self, work_dir: Path) -> dict[str, str]:
        env = dict(os.environ)
        env.update(SPARK_LOCAL_IP=LOOPBACK, SPARK_MASTER_HOST=LOOPBACK,
                   SPARK_WORKER_DIR=str(work_dir), SPARK_LOG_DIR=str(self.state_dir / "logs"),
                   PYSPARK_PYTHON=sys.executable,
                   # one BLAS thread per task: executors share the two cores
                   OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        env.pop("PYSPARK_GATEWAY_PORT", None)
        env.pop("PYSPARK_GATEWAY_SECRET", None)
        return env

    def _spawn(self, args: list[str], name: str, work_dir: Path) -> int:
        logs = self.state_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        out = open(logs / f"{name}.log", "ab")
        # spark-class execs java, so this pid is the JVM's; new session = own process group
        proc = subprocess.Popen([str(_spark_home() / "bin" / "spark-class"), *args],
                             stdout=out, stderr=subprocess.STDOUT, env=self._env(work_dir),
                             start_new_session=True)
        out.close()
        _CHILDREN[proc.pid] = proc   # kept so the Popen is reaped, not garbage-collected
        self.pids.append(proc.pid)
        self._save()
        return proc.pid

    def _save(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "cluster.json").write_text(json.dumps(
            {"master_url": self.master_url, "webui": f"http://{LOOPBACK}:{self.webui_port}",
             "pids": self.pids, "workers": self.workers}), encoding="utf-8")

    def status(self) -> dict:
        """The master's JSON status (workers with their state)."""
        with urllib.request.urlopen(f"http://{LOOPBACK}:{self.webui_port}/json/", timeout=2) as r:
            return json.loads(r.read().decode("utf-8"))

    def alive_workers(self) -> int:
        try:
            return sum(1 for w in self.status().get("workers", []) if w.get("state") == "ALIVE")
        except (OSError, ValueError):
            # not up yet; once in CI the starting master answered /json/ with an HTML
            # page instead of JSON: count it as no workers and keep polling
            return 0

    def start(self, timeout: float = 90.0, stop_at_exit: bool = False) -> "LocalCluster":
        """Start the master and the workers; return when every worker has registered.
        ``stop_at_exit``: also stop them when this Python process exits (tests; the
        ``up`` command leaves the cluster running)."""
        if (self.state_dir / "cluster.json").exists():
            old = json.loads((self.state_dir / "cluster.json").read_text(encoding="utf-8"))
            if any(_alive(p) for p in old.get("pids", [])):
                raise RuntimeError(f"a cluster started from {self.state_dir} is still running "
                                   f"(pids {old['pids']}); stop it first")
        self.port = self.port or free_port()
        self.webui_port = self.webui_port or free_port()
        work = self.state_dir / "work"
        work.mkdir(parents=True, exist_ok=True)
        if stop_at_exit:
            atexit.register(self.stop)
        try:
            self._spawn(["org.apache.spark.deploy.master.Master", "--host", LOOPBACK,
                         "--port", str(self.port), "--webui-port", str(self.webui_port)],
                        "master", work)
            self._wait(lambda: _port_open(self.port) and _port_open(self.webui_port),
                       timeout, "the master to listen")
            for i in range(self.workers):
                self._spawn(["org.apache.spark.deploy.worker.Worker", self.master_url,
                             "--cores", str(self.cores), "--memory", self.memory,
                             "--host", LOOPBACK, "--webui-port", str(free_port()),
                             "--work-dir", str(work / f"worker{i}")], f"worker{i}", work)
            self._wait(lambda: self.alive_workers() == self.workers, timeout,
                       f"{self.workers} workers to register")
        except BaseException:
            self.stop()
            raise
        log.info("standalone cluster up: %s, %d workers (pids %s)", self.master_url,
                 self.workers, self.pids)
        return self

    def _wait(self, ready, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return
            if not all(_alive(p) for p in self.pids):
                raise RuntimeError(f"a cluster process exited while waiting for {what}; "
                                   f"see {self.state_dir / 'logs'}")
            time.sleep(0.3)
        raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}; "
                           f"see {self.state_dir / 'logs'}")

    def stop(self, timeout: float = 20.0) -> None:
        """Stop exactly the processes this cluster started (workers first)."""
        for pid in reversed(self.pids):
            _terminate(pid, timeout)
        self.pids.clear()
        state = self.state_dir / "cluster.json"
        if state.exists():
            state.unlink()

    def leftover_processes(self) -> list[tuple[int, str]]:
        """(pid, command) of every process still running in this cluster's directory:
        the master, workers, executors and their Python workers all run with their
        working directory or a command-line path below ``state_dir`` (Linux ``/proc``)."""
        root = str(self.state_dir.resolve())
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                cwd = os.readlink(entry / "cwd")
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue   # gone, or not ours to inspect
            if (cwd == root or cwd.startswith(root + os.sep) or root in cmd) and \
                    _alive(int(entry.name)):
                found.append((int(entry.name), cmd.strip()[:200]))
        return found

    def __enter__(self) -> "LocalCluster":
        return self.start(stop_at_exit=True)

    def __exit__(self, *exc) -> None:
        self.stop()

    @classmethod
    def from_state(cls, state_dir: Path = DEFAULT_STATE) -> "LocalCluster":
        data = json.loads((Path(state_dir) / "cluster.json").read_text(encoding="utf-8"))
        c = cls(workers=data["workers"], state_dir=Path(state_dir), pids=list(data["pids"]))
        c.port = int(data["master_url"].rsplit(":", 1)[1])
        c.webui_port = int(data["webui"].rsplit(":", 1)[1])
        return c


def _alive(pid: int) -> bool:
    if pid in _CHILDREN:
        return _CHILDREN[pid].poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child counts as gone
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return True


def _terminate(pid: int, timeout: float) -> None:
    if not _alive(pid):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.2)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="patentpanel.cluster", description=__doc__.split("\n\n")[0])
    p.add_argument("action", choices=["up", "down", "status"])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--cores", type=int, default=1)
    p.add_argument("--memory", default="2g")
    p.add_argument("--port", type=int, default=int(os.environ.get("PATENTPANEL_CLUSTER_PORT", 7077)),
                   help="master port (0: a free port; default $PATENTPANEL_CLUSTER_PORT or 7077)")
    p.add_argument("--webui-port", type=int,
                   default=int(os.environ.get("PATENTPANEL_CLUSTER_WEBUI_PORT", 8080)),
                   help="master web UI port (0: a free port; default "
                        "$PATENTPANEL_CLUSTER_WEBUI_PORT or 8080)")
    p.add_argument("--state", type=Path, default=DEFAULT_STATE)
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if a.action == "up":
        c = LocalCluster(a.workers, a.cores, a.memory, a.port, a.webui_port, a.state).start()
        print(c.master_url)
    elif a.action == "down":
        if not (a.state / "cluster.json").exists():
            print("no cluster state here; nothing to stop", file=sys.stderr)
            return 0
        LocalCluster.from_state(a.state).stop()
    else:
        c = LocalCluster.from_state(a.state)
        print(json.dumps({"master_url": c.master_url, "alive_workers": c.alive_workers(),
                          "pids": c.pids}))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
