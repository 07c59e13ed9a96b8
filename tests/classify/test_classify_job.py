"""The classify stage end to end on a small lake: silver.patents -> silver.ai_patents,
review export/import into silver.classification_overrides, overrides applied on the
next run, and the accuracy report against a truth file."""
from __future__ import annotations

import argparse
import json

import pandas as pd

from patentpanel.classify import job
from patentpanel.cli import RunContext
from patentpanel.storage import TableStore

PATENTS = [
    ("CN202010000001.1", 2020, "用于神经网络计算的人工智能加速芯片", "本发明公开一种芯片。", ["G06N 3/063"], "FT"),
    ("CN202010000002.X", 2020, "深度学习模型优化方法", "", ["G06N3/08(2006.01)"], "CT"),
    ("CN202010000003.8", 2021, "智慧物流推荐平台", None, ["G06Q10/08"], "GPT"),
    ("CN202010000004.6", 2019, "一种数据库查询方法", "涉及数据库。", ["G06F9/44"], None),
    ("CN202010000005.4", 2019, "一种阀门", "阀门本体。", ["F16K1/00"], None),
    ("CN202010000006.2", 2019, "一种图像处理装置", "", ["G06K9/62"], "CT"),
]


def args(**kw):
    base = dict(export_review=None, import_review=None, review_dir=None, truth=None, seed=None,
                no_overrides=False)
    base.update(kw)
    return argparse.Namespace(**base)


def test_stage_end_to_end(spark, engines, cfg, lake, tmp_path):
    c = cfg.with_overrides([f"lake.root={lake}", f"outputs.reports={tmp_path / 'reports'}",
                            f"classify.review.output_dir={tmp_path / 'review'}",
                            "classify.review.per_stratum=1"])
    ctx = RunContext(c, _spark=spark, _engines=engines)
    store = TableStore(spark, str(lake), engine=engines.storage)
    ctx._store = store
    df = spark.createDataFrame([p[:5] for p in PATENTS], "app_no string, app_year int, title string, "
                               "abstract string, ipc_codes array<string>")
    store.write(df, "silver.patents")
    truth = pd.DataFrame({"app_no": [p[0] for p in PATENTS], "is_ai": [p[5] is not None for p in PATENTS],
                          "tier": [p[5] for p in PATENTS]})
    truth_path = tmp_path / "truth.csv"
    truth.to_csv(truth_path, index=False)

    s = job.run(ctx, args(export_review="r1", truth=str(truth_path)))
    assert (s["rows"], s["ai"], s["FT"], s["CT"], s["GPT"], s["generic_digital"]) == (6, 4, 1, 2, 1, 1)
    assert (s["precision"], s["recall"], s["tier_accuracy"]) == (1.0, 1.0, 1.0)
    out = {r["app_no"]: r for r in store.read("silver.ai_patents").collect()}
    assert out["CN202010000004.6"]["is_ai_ipc"] and not out["CN202010000004.6"]["is_ai"]
    assert out["CN202010000006.2"]["matched_codes"] == ["G06K9/62"]
    rep = json.loads((tmp_path / "reports" / "classify_accuracy.json").read_text())
    assert rep["is_ai"]["tp"] == 4 and rep["confusion"]["none"]["none"] == 2

    # two coders: both say the valve is AI/GPT (to see the override act), else agree with auto
    review = tmp_path / "review"
    key = pd.read_csv(review / "r1_key.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    for coder in ("coder1", "coder2"):
        sheet = pd.read_csv(review / f"r1_{coder}.csv", dtype=str, keep_default_na=False,
                            encoding="utf-8-sig")
        sheet["is_ai"] = key["auto_is_ai"].values
        sheet["tier"] = key["auto_tier"].values
        sheet.loc[sheet["app_no"] == "CN202010000005.4", ["is_ai", "tier"]] = ["1", "GPT"]
        sheet.to_csv(review / f"r1_{coder}.csv", index=False, encoding="utf-8-sig")
        (review / f"r1_{coder}.xlsx").unlink(missing_ok=True)
    assert "CN202010000005.4" in set(key["app_no"])      # the non-AI stratum is sampled
    s2 = job.run(ctx, args(import_review="r1"))
    assert s2["overrides_written"] == len(key) and s2["kappa_label"] == 1.0
    valve = store.read("silver.ai_patents").filter("app_no = 'CN202010000005.4'").first()
    assert (valve["is_ai"], valve["tier"], valve["override_source"]) == (True, "GPT", "r1")
    # overrides persist on a plain re-run, and can be switched off
    assert job.run(ctx, args())["overridden"] == len(key)
    assert job.run(ctx, args(no_overrides=True))["overridden"] == 0
