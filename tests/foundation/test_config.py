"""Configuration loading, overlays and validation."""
from __future__ import annotations

import shutil

import pytest

from patentpanel.config import ConfigError, conf_dir, load_config, parse_set


@pytest.fixture
def confdir(tmp_path):
    """A private copy of conf/ so tests can write overlay files beside it."""
    d = tmp_path / "conf"
    shutil.copytree(conf_dir(), d)
    return d


def test_base_loads_and_includes_stage_sections():
    cfg = load_config()
    assert cfg.get("spark.master") == "local[2]"
    for section in ("simulate", "ingest", "classify", "network", "panels", "estimate", "report"):
        assert section in cfg, section
    assert "include" not in cfg


def test_set_overrides_with_yaml_typed_values():
    cfg = load_config(sets=["spark.shuffle_partitions=8", "lake.root=/data/lake", "spark.ui=true"])
    assert cfg.get("spark.shuffle_partitions") == 8
    assert cfg.get("lake.root") == "/data/lake"
    assert cfg.get("spark.ui") is True


def test_overlay_file_then_set_later_wins(confdir, tmp_path):
    ov = tmp_path / "cluster.yaml"
    ov.write_text("spark:\n  shuffle_partitions: 200\n  master: yarn\n", encoding="utf-8")
    cfg = load_config([ov], ["spark.shuffle_partitions=50"], directory=confdir)
    assert cfg.get("spark.master") == "yarn"
    assert cfg.get("spark.shuffle_partitions") == 50
    assert cfg.sources[-1] == "--set spark.shuffle_partitions=50"


def test_unknown_key_is_named_with_suggestion():
    with pytest.raises(ConfigError, match=r"unknown configuration key 'spark.shufle_partitions'.*shuffle_partitions"):
        load_config(sets=["spark.shufle_partitions=3"])


def test_type_mismatch_names_key_source_and_expected_type():
    with pytest.raises(ConfigError, match=r"--set spark.shuffle_partitions=many: 'spark.shuffle_partitions' expects int"):
        load_config(sets=["spark.shuffle_partitions=many"])


def test_section_cannot_be_replaced_by_scalar():
    with pytest.raises(ConfigError, match="'spark' is a section"):
        load_config(sets=["spark=3"])


def test_schema_constraints():
    with pytest.raises(ConfigError, match=r"lake.engine.*not one of"):
        load_config(sets=["lake.engine=parquet"])
    with pytest.raises(ConfigError, match="below the minimum"):
        load_config(sets=["spark.shuffle_partitions=0"])
    with pytest.raises(ConfigError, match="does not match"):
        load_config(sets=["spark.master=localhost"])
    with pytest.raises(ConfigError, match="is after"):
        load_config(sets=["run.years.start=2022", "run.years.end=2020"])


def test_open_sections_accept_new_keys():
    cfg = load_config(sets=["spark.extra.spark.executor.cores=2",
                            "spark.extra.spark.sql.session.timeZone=Asia/Shanghai"])
    extra = cfg.section("spark")["extra"]
    assert extra["spark.executor.cores"] == 2
    assert extra["spark.sql.session.timeZone"] == "Asia/Shanghai"
    with pytest.raises(ConfigError, match="unknown configuration key 'spark.nope'"):
        load_config(sets=["spark.nope.x=1"])


def test_bad_yaml_and_missing_files(confdir, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("spark: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config([bad], directory=confdir)
    with pytest.raises(ConfigError, match="not found"):
        load_config([tmp_path / "absent.yaml"], directory=confdir)
    with pytest.raises(ConfigError, match="expected key.path=value"):
        parse_set("spark.master")


def test_duplicate_section_in_include_is_an_error(confdir):
    (confdir / "report.yaml").write_text("spark: {}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="section 'spark' is already defined"):
        load_config(directory=confdir)


def test_fingerprint_is_stable_and_sensitive():
    a, b = load_config(), load_config()
    assert a.fingerprint() == b.fingerprint()
    assert load_config(sets=["run.seed=7"]).fingerprint() != a.fingerprint()


def test_with_overrides_validates():
    cfg = load_config()
    assert cfg.with_overrides(["run.seed=5"]).get("run.seed") == 5
    with pytest.raises(ConfigError):
        cfg.with_overrides(["run.seed=-1"])
