"""run-all end to end on 20,000 simulated applications: every stage runs, every table of
both studies exists in every format and every figure in PNG and SVG, reports/index.html
links all of them (each link resolves) with a text per artefact, the planted values and
the run's lineage; the GMM table's key coefficients against the planted values within
the tolerance the README states for this sample size."""
from __future__ import annotations

import csv
import json
import re
import xml.etree.ElementTree as ET
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from patentpanel import __version__
from patentpanel.stages.run_all import PIPELINE

from conftest import RUN_ALL_RECORDS

pytestmark = pytest.mark.slow

TABLES = ["s1_table1", "s1_table2", "s1_table3", "s1_table4", "s1_table5", "s1_table6",
          "s1_supp_a",            # LQ of every region (supplement)
          "s1_supp_b",            # threshold table (supplement)
          "s2_table4", "s2_table5", "s2_table6", "s2_table7", "s2_table8",
          "s2_robustness", "s2_placebo",
          "sim_truth"]            # planted values beside the estimates
FIGURES = ["s1_fig2", "s1_fig3", "s1_fig4", "s1_fig5", "s1_fig6",
           "s2_fig_tiers", "s2_fig_interactions", "s2_fig_heterogeneity", "s2_fig_lags"]
TABLE_FORMATS = ["md", "tex", "html", "csv", "docx"]
FIGURE_FORMATS = ["png", "svg"]

ROOT = Path(__file__).resolve().parents[2]


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs: list[str] = []
        self.sections: dict[str, list[str]] = {}
        self._section: str | None = None
        self._in_desc = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for k in ("href", "src"):
            if a.get(k) and not a[k].startswith("#"):
                self.refs.append(a[k])
        if tag == "section" and "card" in (a.get("class") or ""):
            self._section = a.get("id")
            self.sections[self._section] = []
        self._in_desc = tag == "p" and "desc" in (a.get("class") or "") and self._section is not None

    def handle_data(self, data):
        if self._in_desc and data.strip():
            self.sections[self._section].append(data.strip())

    def handle_endtag(self, tag):
        if tag == "p":
            self._in_desc = False
        if tag == "section":
            self._section = None


def test_every_stage_runs_without_failures(run_all_small):
    s = run_all_small.summary
    assert s["stages_run"] == PIPELINE
    assert s["simulate"]["applications"] == RUN_ALL_RECORDS
    assert s["estimate"]["failed"] == [] and s["estimate"]["skipped"] == []
    assert s["report"]["failed"] == {} and s["report"]["unavailable"] == {}, s["report"]
    for stage in PIPELINE:
        assert s[stage]["seconds"] > 0
    print("run-all seconds per stage:", {k: s[k]["seconds"] for k in PIPELINE},
          f"wall {run_all_small.seconds:.0f} s, CPU python {run_all_small.python_cpu_seconds:.0f} s "
          f"+ JVM {run_all_small.jvm_cpu_seconds or float('nan'):.0f} s")


def test_every_table_and_figure_exists_in_every_format(run_all_small):
    out = run_all_small.reports
    for key in TABLES:
        for fmt in TABLE_FORMATS:
            p = out / "tables" / f"{key}.{fmt}"
            assert p.is_file() and p.stat().st_size > 0, p
        assert "\\begin{tabular}" in (out / "tables" / f"{key}.tex").read_text(encoding="utf-8")
        with zipfile.ZipFile(out / "tables" / f"{key}.docx") as z:
            assert "word/document.xml" in z.namelist()
        rows = list(csv.DictReader(open(out / "tables" / f"{key}.csv", encoding="utf-8")))
        assert rows and {"row", "column", "display", "value"} <= set(rows[0])
        assert json.loads((out / "tables" / f"{key}.lineage.json").read_text())["artefact"] == key
    for key in FIGURES:
        png, svg = out / "figures" / f"{key}.png", out / "figures" / f"{key}.svg"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
        assert ET.parse(svg).getroot().tag.endswith("svg"), svg
        assert (out / "figures" / f"{key}.lineage.json").is_file()
    assert (out / "index.html").is_file() and (out / "lineage.json").is_file()


def test_index_links_every_artefact_with_text_truth_and_lineage(run_all_small):
    out, ctx = run_all_small.reports, run_all_small.ctx
    page = (out / "index.html").read_text(encoding="utf-8")
    parser = _Links()
    parser.feed(page)
    for ref in parser.refs:                                 # every link resolves
        assert (out / ref).is_file(), ref
    linked = {(out / r).resolve() for r in parser.refs}
    for key in TABLES:
        for fmt in TABLE_FORMATS + ["lineage.json"]:
            assert (out / "tables" / f"{key}.{fmt}").resolve() in linked, (key, fmt)
    for key in FIGURES:
        for fmt in FIGURE_FORMATS + ["lineage.json"]:
            assert (out / "figures" / f"{key}.{fmt}").resolve() in linked, (key, fmt)
    for key in TABLES + FIGURES:                            # a short text of what each shows
        assert key in parser.sections, key
        assert sum(len(t) for t in parser.sections[key]) > 40, (key, parser.sections[key])
    # planted values beside the estimates (simulated data)
    truth = list(csv.DictReader(open(out / "tables" / "sim_truth.csv", encoding="utf-8")))
    manifest = json.loads((run_all_small.sim / "truth" / "manifest.json").read_text())
    planted = manifest["recovery"]["study1_eq3"]["planted"]
    ip = [r for r in truth if r["row"].endswith(": IP") and r["column"] == "Planted"]
    assert ip and float(ip[0]["value"]) == planted["ip"]
    assert "Simulated data: planted values beside the estimates" in page
    # lineage: Delta versions of the inputs as in the store, config hash, package version, seeds
    store = ctx.store
    run = json.loads((out / "lineage.json").read_text())
    assert run["config_fingerprint"] == ctx.cfg.fingerprint() and run["package_version"] == __version__
    assert run["inputs_missing"] == {}
    for name, v in run["inputs"].items():
        assert v["version"] == store.version(name), name
        assert re.search(rf"<code>{re.escape(name)}</code></td><td>{v['version']}</td>", page), name
    assert ctx.cfg.fingerprint() in page and f"patentpanel {__version__}" in page
    assert f"run.seed = {ctx.cfg.get('run.seed')}" in page
    est_seed = store.history("gold.estimates")[0]
    assert str(ctx.cfg.get("run.seed")) in page and est_seed is not None


def _csv_cell(path: Path, row: str, column_suffix: str) -> dict:
    rows = list(csv.DictReader(open(path, encoding="utf-8")))
    hit = [r for r in rows if r["row"] == row and r["row_kind"] == "coef" and r["column"].endswith(column_suffix)]
    assert len(hit) == 1, (row, column_suffix, [r["row"] for r in rows])
    return hit[0]


def _readme_tolerance(records: int) -> dict[str, float | str | None]:
    """The tolerances the README states for Table 4 Model 3 at ``records`` applications:
    the lines ``| <records> | IP | <tolerance> | ...`` of its small-size table: an absolute
    tolerance, ``"<k> SE"`` (within k of the fit's own standard errors, the fit not
    degenerate), or None where it says the term is not identified at that size."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    out: dict[str, float | None] = {}
    for term in ("IP", "IP×NC"):
        m = re.search(rf"^\| {records:,} \| {re.escape(term)} \| ([^|]+) \|", text, re.M)
        assert m, f"README states no tolerance for {term} at {records:,} applications"
        value = m.group(1).strip()
        out[term] = None if value.startswith("none") else value if value.endswith("SE") else float(value)
    return out


def test_gmm_key_coefficients_against_planted_values(run_all_small):
    out, store = run_all_small.reports, run_all_small.ctx.store
    manifest = json.loads((run_all_small.sim / "truth" / "manifest.json").read_text())
    planted = manifest["recovery"]["study1_eq3"]["planted"]
    est = store.read("gold.estimates").toPandas()
    m3 = est[(est["study"] == "study1") & (est["table"] == "Table 4") & (est["model"] == "model3")].set_index("term")
    stats = json.loads(m3["stats"].iloc[0])
    tol = _readme_tolerance(RUN_ALL_RECORDS)
    notes = " ".join(r["display"] for r in csv.DictReader(open(out / "tables" / "s1_table4.csv", encoding="utf-8")))
    md = (out / "tables" / "s1_table4.md").read_text(encoding="utf-8")
    truth = list(csv.DictReader(open(out / "tables" / "sim_truth.csv", encoding="utf-8")))
    for label, term, key, readme in (("IP", "ip", "ip", "IP"), ("IP*NC", "ip_x_nc", "ip_x_nc", "IP×NC")):
        b = m3.loc[term, "coef"]
        if b == b:                                                     # estimated (not omitted)
            cell = _csv_cell(out / "tables" / "s1_table4.csv", label, "Model 3")
            assert float(cell["value"]) == b                           # the table shows the stored estimate
        verdict = [r["display"] for r in truth if r["row"].startswith("Study 1, Table 4")
                   and r["row"].endswith(f": {label}") and r["column"].startswith("Within")]
        if isinstance(tol[readme], str):                              # "<k> SE"
            k, se = float(tol[readme].split()[0]), m3.loc[term, "se"]
            assert not stats["degenerate_cov"] and term not in stats["omitted"], stats
            assert abs(b - planted[key]) <= k * se, (term, b, se, planted[key], tol[readme])
        elif tol[readme] is not None:
            assert abs(b - planted[key]) <= tol[readme], (term, b, planted[key], tol[readme])
        else:
            # not identified at this size: the fit must say so, in the table and the truth check
            assert stats["degenerate_cov"] or term in stats["omitted"], stats
            assert "degenerate" in md or "omitted" in md, notes[:200]
            assert verdict and verdict[0] in ("SE not meaningful (degenerate covariance)", "not identified"), verdict
