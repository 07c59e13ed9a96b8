"""The loopback standalone cluster for the tests of this directory: one per test module
(master + two one-core workers), stopped by process id afterwards, also when a test
fails; teardown then checks that no process of the cluster (master, worker, executor or
Python worker) is left."""
from __future__ import annotations

import pytest

from patentpanel.cluster import LocalCluster, _alive


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = LocalCluster(workers=2, cores=1, memory="1g",
                     state_dir=tmp_path_factory.mktemp("cluster"))
    c.start(timeout=180, stop_at_exit=True)   # atexit: also if pytest itself is interrupted
    yield c
    pids = list(c.pids)
    c.stop()
    assert not any(_alive(p) for p in pids), "cluster processes left behind"
    assert c.leftover_processes() == [], "processes still running in the cluster's directory"
