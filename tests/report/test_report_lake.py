"""report.lake.Lake, the Spark-free reader of the notebooks: tables under <root>/<layer>/<table>,
row counts from the Delta log, time travel, and the lake named by the environment."""
from __future__ import annotations

import pandas as pd
import pytest

from patentpanel.report.lake import LAKE_ENV, Lake


@pytest.fixture
def lake(tmp_path):
    from deltalake import write_deltalake
    root = tmp_path / "lake"
    a = pd.DataFrame({"city_code": ["110000", "120000", "310000"], "ai": [3.0, 1.5, 2.0]})
    write_deltalake(str(root / "gold" / "panel"), a)
    write_deltalake(str(root / "gold" / "panel"), a.assign(ai=a["ai"] * 2).iloc[:2], mode="overwrite")
    write_deltalake(str(root / "silver" / "patents"), pd.DataFrame({"app_no": ["CN1", "CN2"]}))
    (root / "gold" / "not_a_table").mkdir()
    return Lake(root), a


def test_read_count_version_and_time_travel(lake):
    lk, first = lake
    assert lk.tables() == ["gold.panel", "silver.patents"] and lk.tables("silver") == ["silver.patents"]
    assert lk.version("gold.panel") == 1 and lk.count("gold.panel") == 2
    pd.testing.assert_frame_equal(lk.read("gold.panel", version=0).sort_values("city_code").reset_index(drop=True),
                                  first)
    assert lk.read("gold.panel", columns=["ai"])["ai"].tolist() == [6.0, 3.0]
    assert lk.count("gold.panel", version=0) == 3
    h = lk.history("gold.panel")
    assert sorted(h["version"]) == [0, 1]
    ov = lk.overview()
    assert ov.set_index("table").loc["gold.panel", "rows"] == 2


def test_missing_table_and_bad_name(lake):
    lk, _ = lake
    with pytest.raises(FileNotFoundError, match="no Delta table gold.nope"):
        lk.read("gold.nope")
    with pytest.raises(ValueError, match="expected <layer>.<table>"):
        lk.read("panel")
    assert lk.exists("gold.panel") and not lk.exists("gold.not_a_table")


def test_from_env_and_config_default(monkeypatch, tmp_path, cfg):
    monkeypatch.setenv(LAKE_ENV, str(tmp_path / "x"))
    assert Lake.from_env().root == str(tmp_path / "x")
    monkeypatch.delenv(LAKE_ENV)
    # a relative lake.root is taken from the project directory, not the working directory
    monkeypatch.chdir(tmp_path)
    assert Lake.from_env(cfg=cfg).root == str(cfg.directory.resolve().parent / cfg.get("lake.root"))
