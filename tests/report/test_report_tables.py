"""Table formatting on hand-made results: stars at the boundaries, parentheses per table,
rows present, LaTeX sanity, Markdown shape, CSV precision, DOCX cells."""
from __future__ import annotations

import csv
import json

import numpy as np
import pandas as pd
import pytest

from patentpanel.econ.job import result_rows
from patentpanel.econ.results import EstimationResult
from patentpanel.report.tables import (ModelColumn, RegressionLayout, Table, TableError, format_number,
                                       regression_table, star_marks)


def gmm_column(name="model2", coef=(0.854, 0.037), se=(0.0211, 0.017027), ar=(0.001, 0.776), sargan=0.958):
    terms = ["L1.ti", "ip"]
    params = pd.Series(coef, index=terms)
    s = pd.Series(se, index=terms)
    z = params / s
    from scipy import stats
    p = pd.Series(2 * stats.norm.sf(np.abs(z)), index=terms)
    info = {"estimator": "system", "steps": 2, "robust": True, "entity_effects": True, "n_groups": 29,
            "n_instruments": 40, "ar1_p": ar[0], "ar2_p": ar[1], "sargan_p": sargan, "hansen_p": 0.9}
    stats_ = {"nobs": 261, "n_groups": 29, "n_instruments": 40, "ar1_p": ar[0], "ar2_p": ar[1],
              "sargan_p": sargan, "hansen_p": 0.9, "se_type": "Windmeijer-corrected two-step",
              "notes": [], "model_info": info}
    return ModelColumn(name, params, s, z, p, "z", stats_, "Two-step System GMM (Blundell-Bond)")


LAYOUT = {"title": "Table 4. Results of the System-GMM", "study": "study1", "source_table": "Table 4",
          "models": ["model1", "model2"], "headers": ["Model 1", "Model 2"], "dependent": "TI",
          "terms": ["L1.ti", "ip"], "fit": ["nobs", "n_instruments", "ar1_p", "ar2_p", "sargan_p"],
          "effects": [["Cluster FE", "entity_effects"]]}


@pytest.mark.parametrize("p,expected", [(0.1, ""), (0.0999999, "*"), (0.05, "*"), (0.0499, "**"),
                                        (0.01, "**"), (0.00999, "***"), (float("nan"), ""), (None, "")])
def test_star_boundaries_are_strict(p, expected):
    assert star_marks(p) == expected


def test_star_levels_configurable():
    assert star_marks(0.04, (0.05,)) == "*"
    assert star_marks(0.06, (0.05,)) == ""
    assert star_marks(0.001, (0.1, 0.05, 0.01, 0.001)) == "***"


def test_format_number_keeps_sign_of_small_negatives():
    assert format_number(-0.0004, 3) == "-0.000"
    assert format_number(1404, thousands=True) == "1,404"
    assert format_number(float("nan")) == ""


def test_gmm_table_coefficients_z_in_parentheses_and_diagnostics():
    col = gmm_column()
    t = regression_table(RegressionLayout.from_config("t4", LAYOUT), {"model2": col}, labels={"ip": "IP"})
    # hand: z = 0.037 / 0.017027 = 2.17302..., p = 0.0298 -> two stars
    assert t.cell_text("IP", 1) == "0.037**"
    par = [r for r in t.rows if r.kind == "paren" and r.label == "IP"]
    assert par and par[0].cells[1].text == f"({0.037 / 0.017027:.3f})" == "(2.173)"
    assert t.cell_text("AR(1) [p]", 1) == "0.001" and t.cell_text("AR(2) [p]", 1) == "0.776"
    assert t.cell_text("Sargan [p]", 1) == "0.958"
    assert t.cell_text("Observations", 1) == "261" and t.cell_text("Cluster FE", 1) == "Yes"
    assert t.cell_text("IP", 0) == ""          # model1 is absent
    assert any("model1" in n for n in t.notes)
    assert t.notes[0].startswith("z statistics in parentheses; *** p < 0.01, ** p < 0.05, * p < 0.1")
    assert t.header == [["TI", "TI"], ["Model 1", "Model 2"]]


def test_se_in_parentheses_when_the_table_prints_se():
    col = gmm_column()
    lay = RegressionLayout.from_config("t7", {**LAYOUT, "paren": "se"})
    t = regression_table(lay, {"model2": col})
    par = [r for r in t.rows if r.kind == "paren"][1]
    assert par.cells[1].text == "(0.017)"
    assert t.notes[0].startswith("Standard errors in parentheses")


def test_round_trip_through_gold_estimates_rows_matches_the_result():
    """An EstimationResult formatted directly and via its gold.estimates rows gives the same
    table (t statistics with t(G-1) p-values, R², FE rows)."""
    names = ["ft", "ct"]
    cov = pd.DataFrame([[0.0004, 0.00001], [0.00001, 0.0009]], index=names, columns=names)
    res = EstimationResult(params=pd.Series([0.855, 0.05], index=names), cov=cov, nobs=1404, df=119,
                           model_info={"estimator": "Two-way fixed effects (within)", "rsquared": 0.974,
                                       "entity_effects": True, "time_effects": True, "n_clusters": 120,
                                       "cov_type": "clustered by city_code", "controls": True},
                           notes=["Standard errors clustered by city_code (120 clusters)"])
    rows = pd.DataFrame(result_rows("study2", "Table 5", "t5_m1", res))
    a = ModelColumn.from_estimates(rows, "t5_m1")
    b = ModelColumn.from_result(res, "t5_m1")
    lay = RegressionLayout.from_config("s2t5", {
        "title": "Table 5", "study": "study2", "source_table": "Table 5", "models": ["t5_m1"],
        "terms": ["ft", "ct"], "stat_decimals": 2, "fit": ["nobs", "r2"],
        "effects": [["Control", "controls"], ["City FE", "entity_effects"], ["Year FE", "time_effects"]]})
    ta, tb = regression_table(lay, {"t5_m1": a}), regression_table(lay, {"t5_m1": b})
    assert [[c.text for c in r.cells] for r in ta.rows] == [[c.text for c in r.cells] for r in tb.rows]
    # hand: t = 0.855/0.02 = 42.75; p from t(119) is tiny -> ***; 0.05/0.03 = 1.667, p = 0.0982 -> *
    assert ta.cell_text("ft", 0) == "0.855***"
    assert ta.cell_text("ct", 0) == "0.050*"
    assert [r.cells[0].text for r in ta.rows if r.kind == "paren"] == ["(42.75)", "(1.67)"]
    assert ta.cell_text("Observations", 0) == "1,404" and ta.cell_text("R-squared", 0) == "0.974"
    assert ta.cell_text("Year FE", 0) == "Yes"
    assert ta.notes[0].startswith("t statistics in parentheses")


def test_iv_table_first_and_second_stage_columns():
    names = ["popdensity", "ft"]
    res = EstimationResult(params=pd.Series([0.1, 0.935], index=names),
                           cov=pd.DataFrame(np.diag([0.01, 0.0016]), index=names, columns=names), nobs=1284, df=119,
                           model_info={"estimator": "2SLS with city and year fixed effects", "entity_effects": True,
                                       "time_effects": True, "endog": ["ft"], "rsquared": 0.9, "n_clusters": 120,
                                       "kleibergen_paap_f": 41.9},
                           extra={"first_stage": {"ft": {"params": pd.Series([37.657], index=["post_x_s"]),
                                                         "std_errors": pd.Series([6.473], index=["post_x_s"]),
                                                         "f_stat": 33.8, "partial_r2": 0.2}}})
    col = ModelColumn.from_result(res, "t7_ft")
    lay = RegressionLayout.from_config("s2t7", {
        "title": "Table 7", "study": "study2", "source_table": "Table 7", "kind": "iv", "models": ["t7_ft"],
        "dependent": "innovation", "terms": ["post_x_s", "ft"], "paren": "se",
        "fit": ["nobs", "first_stage_f", "kleibergen_paap_f"], "effects": [["Control", True]]})
    t = regression_table(lay, {"t7_ft": col}, labels={"ft": "FTs", "post_x_s": "Post office", "innovation": "innovation"})
    assert t.header[:2] == [["FTs", "innovation"], ["First", "Second"]]
    assert t.cell_text("Post office", 0).startswith("37.657***") and t.cell_text("Post office", 1) == ""
    assert t.cell_text("FTs", 1) == "0.935***" and t.cell_text("FTs", 0) == ""
    par = [r for r in t.rows if r.kind == "paren"]
    assert par[0].cells[0].text == "(6.473)" and par[1].cells[1].text == "(0.040)"
    assert t.cell_text("First-stage F", 0) == "33.80" and t.cell_text("First-stage F", 1) == ""
    assert t.cell_text("Kleibergen-Paap rk Wald F", 1) == "41.90"
    assert t.cell_text("Observations", 0) == "1,284" == t.cell_text("Observations", 1)
    assert t.cell_text("Control", 0) == "Yes"


def _table():
    col = gmm_column()
    lay = RegressionLayout.from_config("t4", {**LAYOUT, "panels": [
        {"title": "Panel A & 100% {x}_1", "models": ["model1", "model2"], "terms": ["L1.ti", "ip"]}]})
    return regression_table(lay, {"model1": gmm_column("model1", coef=(0.941, -0.0004)), "model2": col},
                            labels={"L1.ti": "TI_{t-1}", "ip": "IP"})


def test_latex_is_balanced_booktabs():
    tex = _table().to_latex()
    assert tex.count("{") == tex.count("}")
    assert tex.count(r"\toprule") == 1 and tex.count(r"\bottomrule") == 1 and tex.count(r"\midrule") >= 2
    assert r"\begin{tabular}{lcc}" in tex and tex.rstrip().endswith(r"\end{table}")
    assert r"Panel A \& 100\% \{x\}\_1" in tex and r"TI\_\{t-1\}" in tex
    import re
    rows = [l[:-2] for l in tex.splitlines() if l.endswith(r"\\")]
    for line in rows:      # every row spans the stub + 2 model columns
        cells = re.split(r"(?<!\\)&", line)
        span = sum(int(m.group(1)) if (m := re.search(r"\\multicolumn\{(\d+)\}", c)) else 1 for c in cells)
        assert span == 3, line
    assert "$-0.000$" in tex and "$^{**}$" in tex


def test_markdown_rows_have_every_column():
    md = _table().to_markdown()
    rows = [l for l in md.splitlines() if l.startswith("|")]
    assert all(l.count("|") - l.count("\\|") == 4 for l in rows), rows
    assert "| IP | -0.000 | 0.037** |" in md


def test_csv_keeps_full_precision(tmp_path):
    t = _table()
    t.to_csv(tmp_path / "t.csv")
    rows = list(csv.DictReader(open(tmp_path / "t.csv", encoding="utf-8")))
    ip = next(r for r in rows if r["row"].endswith(": IP") and r["row_kind"] == "coef" and r["column"].endswith("Model 2"))
    assert float(ip["value"]) == 0.037 and float(ip["se"]) == 0.017027
    assert float(ip["stat"]) == 0.037 / 0.017027 and ip["stat_kind"] == "z"
    assert ip["display"] == "0.037**"


def test_docx_opens_with_the_cells(tmp_path):
    from docx import Document
    t = _table()
    files = t.write(tmp_path, ["docx", "html", "md", "tex", "csv"])
    assert set(files) == {"docx", "html", "md", "tex", "csv"} and all(p.is_file() for p in files.values())
    doc = Document(str(files["docx"]))
    assert doc.paragraphs[0].text == t.title
    (tab,) = doc.tables
    texts = [[c.text for c in r.cells] for r in tab.rows]
    assert len(texts) == len(t.header) + len(t.rows)
    assert ["IP", "-0.000", "0.037**"] in texts
    assert any(r[0] == "Observations" and r[1:] == ["261", "261"] for r in texts)
    html = files["html"].read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "<td>0.037**</td>" in html


def test_bad_layouts_name_the_key():
    with pytest.raises(TableError, match="report.tables.x: unknown key"):
        RegressionLayout.from_config("x", {**LAYOUT, "colour": "red"})
    with pytest.raises(TableError, match="fit: unknown statistic"):
        RegressionLayout.from_config("x", {**LAYOUT, "fit": ["aic"]})
    with pytest.raises(TableError, match="has 1 cells, expected 2"):
        Table("k", "t", [["a", "b"]], [__import__("patentpanel.report.tables", fromlist=["Row"]).Row("r", [
            __import__("patentpanel.report.tables", fromlist=["Cell"]).Cell()])])
    with pytest.raises(TableError, match="stats is not JSON"):
        ModelColumn.from_estimates(pd.DataFrame([{"model": "m", "term": "x", "coef": 1.0, "se": 1.0, "stat": 1.0,
                                                  "stat_kind": "z", "p": 0.3, "stats": "{bad"}]), "m")


def test_shipped_layouts_are_valid(cfg):
    from patentpanel.report.job import FIGURES, FIXED
    tables = cfg.section("report")["tables"]
    for k, v in tables.items():
        lay = RegressionLayout.from_config(k, v)
        assert lay.models(), k
    assert {"s1_table4", "s1_table5", "s1_table6", "s2_table5", "s2_table6", "s2_table7", "s2_table8",
            "s2_robustness"} <= set(tables)
    assert {"s1_table1", "s1_table2", "s1_table3", "s1_supp_a", "s1_supp_b", "s2_table4"} == set(FIXED)
    assert {"s1_fig2", "s1_fig3", "s1_fig4", "s1_fig5", "s1_fig6"} <= set(FIGURES)
    json.dumps(tables)
