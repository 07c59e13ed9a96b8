"""The ``report`` stage: gold tables -> paper-style tables, figures, reports/index.html.

extract: the gold tables (gold.estimates, gold.placebo[_summary], gold.descriptives,
gold.clusters, gold.region_lq, gold.threshold_sensitivity, gold.region_edges,
gold.cluster_year), each read at the Delta version pinned when the stage starts
(:class:`~patentpanel.report.lineage.Lineage`); transform: :mod:`.tables`, :mod:`.paper`,
:mod:`.figures`; load: files under ``outputs.reports``::

    tables/<key>.{md,tex,html,csv,docx} + <key>.lineage.json
    figures/<key>.{png,svg} + <key>.lineage.json
    index.html, lineage.json

An artefact whose input is missing (a stage not run) is listed in index.html as not
available with the reason; the others are still produced. Re-running replaces the files
(anything else left in tables/ and figures/ by an earlier run is removed).
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from .figures import (CoefPoint, FigureError, coefficient_plot, lq_bars, marginal_effect, moderation_plot,
                      network_map, placebo_density, threshold_plot)
from .html import Artefact, render_index
from .lineage import Lineage
from .paper import clusters_table, correlation_table, lq_table, region_names, summary_table, threshold_table
from .tables import Cell, ModelColumn, RegressionLayout, Row, Table, TableError, format_number, regression_table

log = logging.getLogger("patentpanel.report.job")

__all__ = ["add_arguments", "run", "ReportBuilder", "INPUTS"]

INPUTS = ("gold.estimates", "gold.placebo", "gold.placebo_summary", "gold.descriptives", "gold.clusters",
          "gold.region_lq", "gold.threshold_sensitivity", "gold.region_edges", "gold.cluster_year")

# Non-regression artefacts: key -> (study, title, description, inputs)
FIXED = {
    "s1_table1": ("study1", "Table 1. Local and external innovation connections",
                  "Intra- and interregional co-application collaborations of each AI cluster over the window.",
                  ["gold.clusters"]),
    "s1_table2": ("study1", "Table 2. Results of descriptive statistics",
                  "Mean, SD, minimum and maximum of the logged cluster-year variables.", ["gold.descriptives"]),
    "s1_table3": ("study1", "Table 3. Results of the Pearson correlation matrix",
                  "Pairwise correlations of the cluster-year variables with significance stars; VIFs in the notes.",
                  ["gold.descriptives"]),
    "s1_supp_a": ("study1", "Supplementary Table A. Location quotient of each region",
                  "LQ of AI patent applications for every region (Eq. 1), with the potential-cluster and cluster flags.",
                  ["gold.region_lq"]),
    "s1_supp_b": ("study1", "Supplementary Table B. Innovation scale of the regions with LQ > 1",
                  "AI applications of the LQ > 1 regions against the main threshold and the 75th-84th percentile thresholds.",
                  ["gold.region_lq", "gold.threshold_sensitivity"]),
    "s2_table4": ("study2", "Table 4. Descriptive statistics",
                  "Observations, mean, SD, minimum and maximum of the 120-city panel variables.", ["gold.descriptives"]),
}
FIGURES = {
    "s1_fig2": ("study1", "Fig 2. Potential AI clusters",
                "Location quotient of every region with LQ > 1: clusters, potential clusters lacking collaborations "
                "of both kinds, and regions below the scale threshold.", ["gold.region_lq"]),
    "s1_fig3": ("study1", "Fig 3. Innovation network containing the AI clusters",
                "Interregional collaborations incident to the clusters, regions at their lon/lat; node area = total "
                "collaborations, line width = collaborations of the pair.", ["gold.region_edges", "gold.clusters"]),
    "s1_fig4": ("study1", "Fig 4. Moderating effect of NC",
                "Simple slopes of TI on IP at low and high NC and the marginal effect of IP across NC from Table 4 "
                "Model 3, with pointwise delta-method confidence bands.", ["gold.estimates", "gold.cluster_year"]),
    "s1_fig5": ("study1", "Fig 5. Diagram of sensitivity analysis",
                "The scale threshold at the 75th-84th percentiles against the AI applications of the LQ > 1 regions "
                "it excludes and of the smallest retained ones.", ["gold.threshold_sensitivity", "gold.region_lq"]),
    "s1_fig6": ("study1", "Fig 6. Results of placebo test",
                "Kernel density of the IP coefficient over re-estimations with IP randomly reassigned, and the real "
                "coefficient.", ["gold.placebo_summary", "gold.placebo"]),
    "s2_fig_tiers": ("study2", "Coefficient plot: the three AI tiers",
                     "Each tier alone (Table 5 Models 1-3) and jointly (Model 4), with confidence intervals.",
                     ["gold.estimates"]),
    "s2_fig_interactions": ("study2", "Coefficient plot: interactions of the tiers",
                            "Two-way and three-way interaction terms of Table 5 Models 5-8.", ["gold.estimates"]),
    "s2_fig_heterogeneity": ("study2", "Coefficient plot: heterogeneity",
                             "Interactions of each tier with coastal location, policy resources, transport and city "
                             "size (Table 8).", ["gold.estimates"]),
    "s2_fig_lags": ("study2", "Coefficient plot: lagged tiers",
                    "Each tier lagged one to three years (Table 6).", ["gold.estimates"]),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("report")
    g.add_argument("--out", default=None, help="output directory (default: outputs.reports)")
    g.add_argument("--tables", default=None, help="comma list of table keys (default: report.only_tables or all)")
    g.add_argument("--figures", default=None, help="comma list of figure keys (default: report.only_figures or all)")


def _split(v: str | None) -> list[str]:
    return [s.strip() for s in (v or "").split(",") if s.strip()]


class ReportBuilder:
    """Builds every artefact; ``build()`` writes them and index.html and returns a summary."""

    def __init__(self, store, cfg, out: str | Path, *, tables: list[str] | None = None,
                 figures: list[str] | None = None):
        self.store, self.cfg = store, cfg
        self.rep = cfg.section("report")
        self.out = Path(out)
        self.tdir, self.fdir = self.out / "tables", self.out / "figures"
        self.stars = [float(x) for x in self.rep["stars"]]
        self.layouts = {k: RegressionLayout.from_config(k, v) for k, v in (self.rep.get("tables") or {}).items()}
        all_tables = list(FIXED) + list(self.layouts)
        all_figs = list(FIGURES)
        self.want_tables = tables or list(self.rep.get("only_tables") or []) or all_tables
        self.want_figures = figures if figures is not None else (list(self.rep.get("only_figures") or []) or all_figs)
        bad = [t for t in self.want_tables if t not in all_tables] + [f for f in self.want_figures if f not in all_figs]
        if bad:
            raise TableError(f"report: unknown table/figure key(s) {bad}; tables {all_tables}, figures {all_figs}")
        self.lineage = Lineage(store, cfg)
        self.lineage.pin(INPUTS)
        self._frames: dict[str, pd.DataFrame] = {}
        self._columns: dict[tuple[str, str], dict[str, ModelColumn]] = {}
        self._gaz: pd.DataFrame | None = None
        self.artefacts: list[Artefact] = []
        self.written: list[Path] = []

    # -- extract
    def frame(self, name: str) -> pd.DataFrame:
        if name not in self._frames:
            from ..storage import TableNotFound
            if not self.lineage.available(name):
                raise TableNotFound(self.lineage.missing[name])
            self._frames[name] = self.lineage.read(name).toPandas()
        return self._frames[name]

    @property
    def gazetteer(self) -> pd.DataFrame:
        if self._gaz is None:
            self._gaz = pd.read_csv(self.cfg.path("report.gazetteer"), dtype={"adcode": str})
        return self._gaz

    @property
    def names(self) -> dict[str, str]:
        return region_names(self.gazetteer)

    def columns(self, study: str, table: str) -> dict[str, ModelColumn]:
        key = (study, table)
        if key not in self._columns:
            est = self.frame("gold.estimates")
            sub = est[(est["study"] == study) & (est["table"] == table)]
            self._columns[key] = {m: ModelColumn.from_estimates(g, m) for m, g in sub.groupby("model", sort=False)}
        return self._columns[key]

    # -- load helpers
    def _table_files(self, t: Table) -> dict[str, Path]:
        files = t.write(self.tdir, self.rep["table_formats"])
        self.written += list(files.values())
        return files

    def _attempt(self, key: str, kind: str, study: str, title: str, desc: str, inputs: list[str],
                 fn: Callable[[], tuple[dict[str, Path], Table | None, dict]]) -> Artefact:
        a = Artefact(key, kind, study, title, desc, inputs=list(inputs))
        from ..storage import TableNotFound
        try:
            files, table, extra = fn()
            a.files, a.table, a.extra = files, table, extra
            extra_inputs = extra.pop("inputs", [])
            a.inputs = list(dict.fromkeys(a.inputs + extra_inputs))
            directory = self.tdir if kind == "table" else self.fdir
            a.lineage_file, _ = self.lineage.write_sidecar(key, kind, list(files.values()), a.inputs, directory,
                                                           base=self.out, title=title,
                                                           **{k: v for k, v in extra.items() if k != "notes"})
            self.written.append(a.lineage_file)
        except (TableNotFound, TableError, FigureError, KeyError) as exc:
            a.status, a.reason = "unavailable", str(exc).strip("'\"")
            log.warning("report: %s not available: %s", key, a.reason)
        except Exception as exc:  # one artefact failing must not lose the others
            a.status, a.reason = "failed", f"{type(exc).__name__}: {exc}"
            log.error("report: %s failed: %s", key, a.reason, exc_info=True)
        self.artefacts.append(a)
        return a

    # -- tables
    def fixed_table(self, key: str) -> tuple[dict, Table, dict]:
        study, title, desc, inputs = FIXED[key]
        dec = int(self.rep["decimals"])
        if key == "s1_table1":
            t = clusters_table(self.frame("gold.clusters"), self.names, key=key, title=title)
        elif key == "s1_table2":
            t = summary_table(self.frame("gold.descriptives"), "study1_table2", key=key, title=title, decimals=dec)
        elif key == "s1_table3":
            t = correlation_table(self.frame("gold.descriptives"), "study1_table3", key=key, title=title,
                                  vif_id="study1_vif", star_levels=self.stars, decimals=dec)
        elif key == "s1_supp_a":
            t = lq_table(self.frame("gold.region_lq"), self.names, key=key, title=title, decimals=dec)
        elif key == "s1_supp_b":
            t = threshold_table(self.frame("gold.region_lq"), self.frame("gold.threshold_sensitivity"),
                                self.names, key=key, title=title)
        elif key == "s2_table4":
            t = summary_table(self.frame("gold.descriptives"), "study2_table4", key=key, title=title,
                              statistics=("obs", "mean", "sd", "min", "max"), decimals=dec)
        else:  # pragma: no cover - keys are checked in __init__
            raise TableError(f"unknown table {key}")
        t.description = desc
        return self._table_files(t), t, {}

    def layout_table(self, key: str) -> tuple[dict, Table, dict]:
        lay = self.layouts[key]
        cols = self.columns(lay.study, lay.source_table)
        present = [m for m in lay.models() if m in cols]
        if not present:
            raise TableError(f"gold.estimates has none of the models {lay.models()} of {lay.study} "
                             f"{lay.source_table!r} (run the estimate stage)")
        t = regression_table(lay, cols, labels=self.rep.get("labels") or {}, star_levels=self.stars)
        return self._table_files(t), t, {"models": present}

    # -- figures
    def _fig_kw(self) -> dict:
        return {"formats": self.rep["figure_formats"], "dpi": int(self.rep["dpi"])}

    def _ci(self, col: ModelColumn, term: str) -> tuple[float, float, float]:
        from scipy import stats
        level = float(self.rep["level"])
        g = col.info("n_groups")
        crit = stats.t.ppf(0.5 + level / 2, int(g) - 1) if col.stat_kind == "t" and g and int(g) > 1 \
            else stats.norm.ppf(0.5 + level / 2)
        b, s = float(col.params[term]), float(col.se[term])
        return b, b - crit * s, b + crit * s

    def _points(self, study: str, table: str, items: list[tuple[str, str, str, str]]) -> list[CoefPoint]:
        cols = self.columns(study, table)
        out = []
        for model, term, label, group in items:
            c = cols.get(model)
            if c is None or term not in c.params.index:
                continue
            b, lo, hi = self._ci(c, term)
            out.append(CoefPoint(label, group, b, lo, hi, float(c.p[term])))
        return out

    def figure(self, key: str) -> tuple[dict, None, dict]:
        study, title, desc, inputs = FIGURES[key]
        stem = self.fdir / key
        kw = self._fig_kw()
        labels = self.rep.get("labels") or {}
        extra: dict[str, Any] = {}
        level = float(self.rep["level"])
        if key == "s1_fig2":
            files = lq_bars(self.frame("gold.region_lq"), self.names, stem, **kw)
        elif key == "s1_fig3":
            cl = self.frame("gold.clusters")
            codes = cl.loc[cl["is_cluster"].astype(bool), "city_code"].astype(str).tolist()
            w = self.cfg.get("network.window", None) or {}
            years = (int(w["start"]), int(w["end"])) if w else None
            files = network_map(self.frame("gold.region_edges"), codes, self.gazetteer, stem, years=years, **kw)
        elif key == "s1_fig4":
            files, extra = self._moderation(stem, kw, level)
        elif key == "s1_fig5":
            lq = self.frame("gold.region_lq")
            files = threshold_plot(self.frame("gold.threshold_sensitivity"), lq, self.names, stem,
                                   main_percentile=float(self.cfg.get("network.lq.percentile", 80)), **kw)
        elif key == "s1_fig6":
            files, extra = self._placebo(stem, kw)
        else:
            lab = lambda t: labels.get(t) or t  # noqa: E731
            tiers = ["ft", "ct", "gpt"]
            if key == "s2_fig_tiers":
                items = [(f"t5_m{i + 1}", t, lab(t), "alone (Models 1-3)") for i, t in enumerate(tiers)]
                items += [("t5_m4", t, lab(t), "jointly (Model 4)") for t in tiers]
                items += [("t5_m8", t, lab(t), "with interactions (Model 8)") for t in tiers]
                pts = self._points("study2", "Table 5", items)
            elif key == "s2_fig_interactions":
                inter = {"t5_m5": ["ft:ct"], "t5_m6": ["ft:gpt"], "t5_m7": ["ct:gpt"]}
                items = [(m, t, _tl(t, labels), "one interaction (Models 5-7)") for m, ts in inter.items() for t in ts]
                items += [("t5_m8", t, _tl(t, labels), "all interactions (Model 8)")
                          for t in ["ft:ct", "ft:gpt", "ct:gpt", "ft:ct:gpt"]]
                pts = self._points("study2", "Table 5", items)
            elif key == "s2_fig_heterogeneity":
                items = [(f"t8_{h}_{t}", f"{d}:{t}", f"{labels.get(d, d)} × {lab(t)}", lab(t))
                         for h, d in (("coastal", "coastal"), ("policy", "capital"), ("transport", "transport"),
                                      ("cityscale", "cityscale")) for t in tiers]
                pts = self._points("study2", "Table 8", items)
                pts = [CoefPoint(p.label.split(" × ")[0], p.group, p.coef, p.lower, p.upper, p.p) for p in pts]
            else:  # s2_fig_lags
                items = [(f"t6_l{k}_{t}", f"L{k}.{t}", lab(t), f"lag {k}") for t in tiers for k in (1, 2, 3)]
                pts = self._points("study2", "Table 6", items)
            if not pts:
                raise FigureError(f"{key}: none of its models are in gold.estimates (run the estimate stage)")
            files = coefficient_plot(pts, stem, title=title.replace("Coefficient plot: ", "").capitalize(),
                                     level=level, note="Intervals from t(G-1) with city-clustered SEs "
                                     "where the model reports t statistics.", **kw)
        self.written += files
        return {p.suffix[1:]: p for p in files}, None, extra

    def _moderation(self, stem: Path, kw: dict, level: float) -> tuple[list[Path], dict]:
        m = self.rep["moderation"]
        col = self.columns(m["study"], m["table"]).get(m["model"])
        if col is None:
            raise FigureError(f"Fig 4: {m['study']} {m['table']} {m['model']} is not in gold.estimates")
        panel = self.frame(m["panel"])
        cov, how = col.cov, "stored with the estimates"
        params = col.params
        if cov is None:
            # gold.estimates does not carry the covariance: re-fit the same specification on
            # the same (pinned) panel and check it reproduces the stored coefficients.
            from ..econ.gmm import GMMSpec
            spec = GMMSpec.from_yaml(self.cfg.path("estimate.gmm.models_file"), m["model"])
            res = spec.fit(panel)
            common = [t for t in params.index if t in res.params.index]
            if len(common) != len(params) or not np.allclose(res.params[common], params[common], rtol=1e-6, atol=1e-9):
                raise FigureError("Fig 4: re-fitting the model on the pinned panel does not reproduce the stored "
                                  "coefficients, so its covariance cannot be used (re-run estimate)")
            cov, how = res.cov, "from a re-fit of the specification on the same panel version (coefficients match)"
        centre = (float(panel[m["x"]].mean()), float(panel[m["z"]].mean()))
        labels = self.rep.get("labels") or {}
        files = moderation_plot(params, cov, panel, stem, x=m["x"], z=m["z"], xz=m["xz"], centre=centre, level=level,
                                x_label=labels.get(m["x"], m["x"]), z_label=labels.get(m["z"], m["z"]),
                                y_label=labels.get("ti", "TI"), **kw)
        zv = panel[[m["x"], m["z"]]].dropna()[m["z"]]
        at = marginal_effect(params, cov, [zv.mean() - zv.std(ddof=1), zv.mean(), zv.mean() + zv.std(ddof=1)],
                             x=m["x"], xz=m["xz"], centre_z=centre[1], level=level)
        zl, xl = labels.get(m["z"], m["z"]), labels.get(m["x"], m["x"])
        said = "; ".join(f"{w} {zl} ({r.z:.3f}): {r.effect:.3f} [{r.lower:.3f}, {r.upper:.3f}]"
                         for w, r in zip(("low", "mean", "high"), at.itertuples()))
        notes = [f"Marginal effect of {xl} (with {level:.0%} delta-method interval) at {said} "
                 f"(low/high: mean -/+ 1 SD).", f"Coefficient covariance {how}."]
        if col.info("degenerate_cov"):
            notes.append(f"Warning: the covariance of {m['model']} is degenerate "
                         f"({col.info('degenerate_cov_reason')}); the bands are not meaningful.")
        return files, {"covariance": how, "centre": {m["x"]: centre[0], m["z"]: centre[1]},
                       "marginal_effect": at.to_dict(orient="records"), "notes": notes}

    def _placebo(self, stem: Path, kw: dict) -> tuple[list[Path], dict]:
        p = self.rep["placebo"]
        s = self.frame("gold.placebo_summary")
        s = s[(s["model"] == p["model"]) & (s["term"] == p["term"])]
        if s.empty:
            raise FigureError(f"Fig 6: gold.placebo_summary has no run of model {p['model']!r} term {p['term']!r}")
        row = s.iloc[-1].to_dict()
        row = {k: (list(v) if isinstance(v, np.ndarray) else v) for k, v in row.items()}
        draws = None
        inputs = ["gold.placebo_summary"]
        if self.lineage.available("gold.placebo"):
            d = self.frame("gold.placebo")
            d = d[(d["model"] == p["model"]) & (d["term"] == p["term"]) & (d["scheme"] == row["scheme"]) &
                  (d["status"] == "ok")]
            draws = d["coef"].to_numpy(float)
            inputs.append("gold.placebo")
        labels = self.rep.get("labels") or {}
        files = placebo_density(row, draws, stem, term_label=labels.get(p["term"], p["term"]), **kw)
        return files, {"inputs": inputs, "replications": int(row.get("replications") or 0),
                       "seed": row.get("seed"),
                       "notes": [f"{int(row.get('succeeded') or 0)} of {int(row.get('replications') or 0)} "
                                 f"re-estimations succeeded (scheme {row.get('scheme')}, seed {row.get('seed')})."]}

    # -- truth
    def truth_artefact(self) -> tuple[Artefact | None, list[str]]:
        path = self.rep.get("truth_manifest") or ""
        p = self.cfg.path("report.truth_manifest") if path else Path(self.cfg.get("inputs.simulated")) / "truth" / "manifest.json"
        if not p.is_file():
            return None, []
        try:
            manifest = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            log.warning("report: truth manifest %s unreadable: %s", p, exc)
            return None, []
        a = Artefact("sim_truth", "table", "simulation", "Planted values and estimates",
                     "Each planted coefficient of the simulator beside the pipeline's estimate, its standard error and "
                     "the distance in standard errors.", inputs=["gold.estimates"])
        texts = [f"This run is on simulated data (manifest {p}, simulator seed {manifest.get('seed')}, "
                 f"{manifest.get('records')} records)."]
        try:
            t = truth_table(manifest, self, float(self.rep["truth"]["z_flag"]))
            a.table = t
            a.files = self._table_files(t)
            a.lineage_file, _ = self.lineage.write_sidecar("sim_truth", "table", list(a.files.values()), a.inputs,
                                                           self.tdir, base=self.out, truth_manifest=str(p),
                                                           simulator_seed=manifest.get("seed"))
            self.written.append(a.lineage_file)
        except Exception as exc:
            a.status, a.reason = "unavailable", f"{type(exc).__name__}: {exc}"
        planted = sorted(manifest.get("clusters_planted") or [])
        if planted and self.lineage.available("gold.clusters"):
            cl = self.frame("gold.clusters")
            found = sorted(self.names.get(str(c), str(c)) for c in cl.loc[cl["is_cluster"].astype(bool), "city_code"])
            miss, extra = sorted(set(planted) - set(found)), sorted(set(found) - set(planted))
            texts.append(f"Clusters: {len(planted)} planted, {len(found)} identified"
                         + ("; identical sets." if not miss and not extra else
                            f"; planted but not found: {', '.join(miss) or 'none'}; found but not planted: "
                            f"{', '.join(extra) or 'none'}."))
        rec = manifest.get("recovery") or {}
        for k, v in rec.items():
            if isinstance(v, dict) and v.get("tolerance"):
                what = str(v.get("estimator", "")).rstrip(". ")
                texts.append(f"{k}: {what + '. ' if what else ''}Tolerance stated by the simulator: "
                             f"{str(v['tolerance']).rstrip('.')}.")
        self._planted_notes(manifest)
        return a, texts

    def _planted_notes(self, manifest: dict) -> None:
        """On simulated data, each table holding a model of ``report.truth`` gets a note with
        the planted values beside its estimates (the Simulation check compares them)."""
        rec = manifest.get("recovery") or {}
        planted = {"study1": (rec.get("study1_eq3") or {}).get("planted"),
                   "study2": (rec.get("study2_table5_model8") or {}).get("planted_on_pipeline_scale"),
                   "firms_gs": ((rec.get("firms_table5") or {}).get("planted") or {}).get("gs"),
                   "firms_ti": ((rec.get("firms_table5") or {}).get("planted") or {}).get("ti")}
        labels = self.rep.get("labels") or {}
        for name, spec in (self.rep.get("truth") or {}).items():
            values = planted.get(name) if isinstance(spec, dict) else None
            if not values:
                continue
            study = "study2" if name == "study2" else "study1"
            text = ", ".join(f"{_tl(term, labels)} {float(values[k]):.3f}" for k, term in spec["terms"].items()
                             if k in values)
            for a in self.artefacts:
                lay = self.layouts.get(a.key)
                if a.status == "ok" and lay is not None and lay.study == study and \
                        lay.source_table == spec["table"] and spec["model"] in lay.models():
                    why = (" The simulator plants them for 2SLS: two-way FE is biased by its confounder by design."
                           if name == "study2" else "")
                    a.extra.setdefault("notes", []).insert(0, (
                        f"Simulated data: planted values of {spec['model']}: {text} (estimates against them in the "
                        f"Simulation check at the top).{why}"))

    # -- run
    def build(self) -> dict[str, Any]:
        t0 = time.perf_counter()
        for d in (self.tdir, self.fdir):
            d.mkdir(parents=True, exist_ok=True)
        for key in self.want_tables:
            if key in FIXED:
                study, title, desc, inputs = FIXED[key]
                self._attempt(key, "table", study, title, desc, inputs, lambda k=key: self.fixed_table(k))
            else:
                lay = self.layouts[key]
                self._attempt(key, "table", lay.study, lay.title, lay.description, ["gold.estimates"],
                              lambda k=key: self.layout_table(k))
        for key in self.want_figures:
            study, title, desc, inputs = FIGURES[key]
            self._attempt(key, "figure", study, title, desc, inputs, lambda k=key: self.figure(k))
        truth, truth_text = self.truth_artefact()
        run = self.lineage.run_record()
        (self.out / "lineage.json").write_text(json.dumps(run, indent=2, sort_keys=True, default=str,
                                                          ensure_ascii=False) + "\n", encoding="utf-8")
        index = self.out / "index.html"
        index.write_text(render_index(self.artefacts, run, self.out, truth=truth, truth_text=truth_text),
                         encoding="utf-8")
        removed = self._remove_stale()
        ok = [a.key for a in self.artefacts if a.status == "ok"]
        return {"out": str(self.out), "index": str(index), "produced": len(ok),
                "unavailable": {a.key: a.reason for a in self.artefacts if a.status == "unavailable"},
                "failed": {a.key: a.reason for a in self.artefacts if a.status == "failed"},
                "files": len(self.written) + 2, "stale_removed": removed, "truth": truth is not None,
                "seconds": round(time.perf_counter() - t0, 2)}

    def _remove_stale(self) -> int:
        """Files in tables/ and figures/ not written now: all of them after a full run; after
        a run of selected artefacts only those of the selected keys (others are kept)."""
        keep = {p.resolve() for p in self.written}
        full = set(self.want_tables) == set(FIXED) | set(self.layouts) and set(self.want_figures) == set(FIGURES)
        mine = set(self.want_tables) | set(self.want_figures) | {"sim_truth"}
        n = 0
        for d in (self.tdir, self.fdir):
            for p in d.iterdir():
                stem = p.name.split(".")[0]
                if p.is_file() and p.resolve() not in keep and (full or stem in mine):
                    p.unlink()
                    n += 1
        return n


def _tl(term: str, labels: dict) -> str:
    from .tables import term_label
    return term_label(term, labels)


def truth_table(manifest: dict, builder: ReportBuilder, z_flag: float) -> Table:
    """Planted vs estimated: one panel per mapping in ``report.truth``."""
    tcfg = builder.rep["truth"]
    rec = manifest.get("recovery") or {}
    sources = {"study1": ("study1", (rec.get("study1_eq3") or {}).get("planted"),
                          "Study 1, Table 4 Model 3 (System GMM)"),
               "study2": ("study2", (rec.get("study2_table5_model8") or {}).get("planted_on_pipeline_scale"),
                          "Study 2, Table 5 Model 8 (two-way FE; the simulator plants a confounder, so FE is biased)"),
               "firms_gs": ("study1", ((rec.get("firms_table5") or {}).get("planted") or {}).get("gs"),
                            "Study 1, Table 5 Model 5 (GS, System GMM)"),
               "firms_ti": ("study1", ((rec.get("firms_table5") or {}).get("planted") or {}).get("ti"),
                            "Study 1, Table 5 Model 6 (TI^, System GMM)")}
    labels = builder.rep.get("labels") or {}
    rows: list[Row] = []
    for name, (study, planted, title) in sources.items():
        spec = tcfg.get(name)
        if not spec or not planted:
            continue
        col = builder.columns(study, spec["table"]).get(spec["model"])
        rows.append(Row(title, [], "section"))
        for pk, term in spec["terms"].items():
            if pk not in planted:
                continue
            pv = float(planted[pk])
            if col is None or term not in col.params.index:
                rows.append(Row(_tl(term, labels), [Cell(format_number(pv, 3), pv), Cell("not estimated"),
                                                    Cell(), Cell(), Cell()]))
                continue
            b, s = float(col.params[term]), float(col.se[term])
            if not np.isfinite(b):
                rows.append(Row(_tl(term, labels), [Cell(format_number(pv, 3), pv), Cell("omitted"),
                                                    Cell(), Cell(), Cell("not identified")]))
                continue
            z = (b - pv) / s if s > 0 else float("nan")
            if col.info("degenerate_cov"):
                # the SEs of a degenerate fit are not meaningful: no verdict in SE units
                verdict = Cell("SE not meaningful (degenerate covariance)")
            else:
                ok = bool(abs(z) <= z_flag)
                verdict = Cell("yes" if ok else "no", ok)
            rows.append(Row(_tl(term, labels), [Cell(format_number(pv, 3), pv), Cell(format_number(b, 3), b),
                                                Cell(format_number(s, 3), s), Cell(format_number(z, 2), z),
                                                verdict]))
    if not rows:
        raise TableError("the truth manifest has no planted coefficients that match report.truth")
    return Table("sim_truth", "Planted values (simulator) and estimates", [
        ["Planted", "Estimate", "SE", "(Estimate - planted) / SE", f"Within {z_flag:g} SE"]], rows,
        [f"Planted values from the simulator's truth manifest (recovery section). Within: |estimate - planted| "
         f"<= {z_flag:g} standard errors (report.truth.z_flag); no verdict where the fit's covariance is degenerate "
         f"(more instruments than groups; see the table's notes). Two-way FE of study 2 is biased by the planted "
         f"confounder by design (the simulator plants the 2SLS target)."], stub="Term", inputs=["gold.estimates"])


def run(ctx, args) -> dict:
    cfg = ctx.cfg
    out = getattr(args, "out", None) or cfg.get("outputs.reports")
    b = ReportBuilder(ctx.store, cfg, out, tables=_split(getattr(args, "tables", None)) or None,
                      figures=_split(getattr(args, "figures", None)) or None)
    return b.build()
