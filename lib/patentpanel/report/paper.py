"""The papers' non-regression tables from the gold tables: study 1 Table 1 (intra- and
interregional collaborations of the clusters), Table 2 (descriptive statistics), Table 3
(Pearson correlations with stars, VIF in the notes), Supplementary Table A (LQ of every
region) and B (innovation scale of the LQ > 1 regions and the percentile thresholds);
study 2 Table 4 (descriptive statistics). Regression tables come from
:func:`patentpanel.report.tables.regression_table`.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .tables import Cell, Row, Table, TableError, format_number, star_marks

__all__ = ["clusters_table", "summary_table", "correlation_table", "lq_table", "threshold_table",
           "region_names"]


def _need(df: pd.DataFrame, cols: Sequence[str], what: str) -> None:
    miss = [c for c in cols if c not in df.columns]
    if miss:
        raise TableError(f"{what}: missing column(s) {miss}; has {list(df.columns)}")


def region_names(gazetteer: pd.DataFrame | None) -> dict[str, str]:
    """adcode -> English name (Chinese name where no English one)."""
    if gazetteer is None or gazetteer.empty:
        return {}
    g = gazetteer.copy()
    en = g["name_en"] if "name_en" in g.columns else g["name"]
    return dict(zip(g["adcode"].astype(str), en.fillna(g["name"]).astype(str)))


def _name(code: str, fallback: str | None, names: Mapping[str, str]) -> str:
    return names.get(str(code)) or (fallback or str(code))


def clusters_table(clusters: pd.DataFrame, names: Mapping[str, str], *, key: str, title: str) -> Table:
    """Table 1: the clusters by intraregional collaborations (descending)."""
    _need(clusters, ["city_code", "intra", "inter", "is_cluster"], "gold.clusters")
    c = clusters[clusters["is_cluster"].astype(bool)].copy()
    c = c.sort_values(["intra", "inter", "city_code"], ascending=[False, False, True])
    rows = [Row(_name(r.city_code, getattr(r, "city_name", None), names),
                [Cell(format_number(int(r.intra), thousands=True), int(r.intra)),
                 Cell(format_number(int(r.inter), thousands=True), int(r.inter))])
            for r in c.itertuples()]
    n_inter_gt = int((c["inter"] > c["intra"]).sum())
    notes = [f"{len(c)} clusters; collaborations are co-applications counted once per applicant pair "
             f"(network window). Interregional exceeds intraregional in {n_inter_gt} of {len(c)} clusters."]
    return Table(key, title, [["Intraregional cooperation", "Interregional cooperation"]], rows, notes,
                 stub="Cluster", inputs=["gold.clusters"])


def summary_table(desc: pd.DataFrame, table_id: str, *, key: str, title: str,
                  statistics: Sequence[str] = ("mean", "sd", "min", "max"), decimals: int = 3) -> Table:
    """Table 2 (study 1) / Table 4 (study 2) from gold.descriptives (long format)."""
    _need(desc, ["table", "variable", "label", "statistic", "value", "position"], "gold.descriptives")
    d = desc[desc["table"] == table_id]
    if d.empty:
        raise TableError(f"gold.descriptives has no rows of table {table_id!r}")
    heads = {"obs": "Obs.", "mean": "Mean", "sd": "SD", "min": "Min.", "max": "Max."}
    wide = d.pivot_table(index=["position", "variable", "label"], columns="statistic", values="value",
                         aggfunc="first").sort_index()
    rows = []
    for (pos, var, lab), r in wide.iterrows():
        cells = []
        for s in statistics:
            v = r.get(s, np.nan)
            cells.append(Cell(format_number(int(v), thousands=True) if s == "obs" and pd.notna(v)
                              else format_number(v, decimals), None if pd.isna(v) else float(v)))
        rows.append(Row(str(lab or var), cells))
    n = d.loc[d["statistic"] == "obs", "value"]
    notes = [f"SD with n - 1. Variables as used in the regressions ({d['panel'].iloc[0] if 'panel' in d else ''})."]
    if len(n) and n.nunique() > 1:
        notes.append("Observations differ across variables (unbalanced where a variable is missing).")
    return Table(key, title, [[heads.get(s, s) for s in statistics]], rows, notes,
                 inputs=["gold.descriptives"])


def correlation_table(desc: pd.DataFrame, table_id: str, *, key: str, title: str,
                      vif_id: str | None = None, star_levels: Sequence[float] = (0.1, 0.05, 0.01),
                      decimals: int = 3) -> Table:
    """Table 3: lower-triangular Pearson correlations with stars from their p-values."""
    _need(desc, ["table", "variable", "label", "other", "statistic", "value", "position"], "gold.descriptives")
    d = desc[desc["table"] == table_id]
    if d.empty:
        raise TableError(f"gold.descriptives has no rows of table {table_id!r}")
    order = d.drop_duplicates("variable").sort_values("position")
    vars_, labels = list(order["variable"]), list(order["label"].fillna(order["variable"]))
    r = d[d["statistic"] == "r"].set_index(["variable", "other"])["value"]
    p = d[d["statistic"] == "p_value"].set_index(["variable", "other"])["value"]
    rows = []
    for i, a in enumerate(vars_):
        cells = []
        for j, b in enumerate(vars_):
            if j > i:
                cells.append(Cell())
                continue
            v = r.get((a, b), np.nan)
            pv = p.get((a, b), np.nan) if a != b else np.nan
            txt = "1" if a == b and v == 1 else format_number(v, decimals) + star_marks(pv, star_levels)
            cells.append(Cell(txt, None if pd.isna(v) else float(v), p=None if pd.isna(pv) else float(pv)))
        rows.append(Row(labels[i], cells))
    levels = sorted(star_levels)
    notes = [", ".join(f"{'*' * (len(levels) - k)} p < {lv:g}" for k, lv in enumerate(levels))
             + " (two-sided t test of r = 0, n - 2 df)."]
    n = d.loc[d["statistic"] == "r", "n"] if "n" in d else pd.Series(dtype=float)
    if len(n):
        notes.append(f"Pairwise-complete observations: {int(n.min())}-{int(n.max())}." if n.nunique() > 1
                     else f"Observations: {int(n.iloc[0])}.")
    if vif_id is not None:
        v = desc[(desc["table"] == vif_id) & (desc["statistic"] == "vif")]
        if len(v):
            top = v.loc[v["value"].idxmax()]
            notes.append(f"Maximum variance inflation factor {top['value']:.3f} ({top['label'] or top['variable']}); "
                         f"VIFs: " + ", ".join(f"{(x.label or x.variable)} {x.value:.3f}" for x in v.itertuples()) + ".")
    return Table(key, title, [labels], rows, notes, inputs=["gold.descriptives"])


def lq_table(region_lq: pd.DataFrame, names: Mapping[str, str], *, key: str, title: str,
             decimals: int = 3, only_positive: bool = False) -> Table:
    """Supplementary Table A: LQ of every region, highest first."""
    _need(region_lq, ["city_code", "lq", "ai_total", "all_total", "lq_gt1", "potential", "is_cluster"],
          "gold.region_lq")
    d = region_lq.copy()
    if only_positive:
        d = d[d["ai_total"] > 0]
    d = d.sort_values(["lq", "city_code"], ascending=[False, True], na_position="last")
    rows = []
    for r in d.itertuples():
        rows.append(Row(_name(r.city_code, getattr(r, "city_name", None), names), [
            Cell(str(r.city_code), str(r.city_code)),
            Cell(format_number(r.ai_total, 1, thousands=True), float(r.ai_total)),
            Cell(format_number(r.all_total, 1, thousands=True), float(r.all_total)),
            Cell(format_number(r.lq, decimals), None if pd.isna(r.lq) else float(r.lq)),
            Cell("Yes" if r.potential else "No", bool(r.potential)),
            Cell("Yes" if r.is_cluster else "No", bool(r.is_cluster))]))
    n1 = int(d["lq_gt1"].sum())
    notes = [f"LQ_i = (A_i/P_i)/(A/P) from mean annual AI (A) and all (P) applications over the window; "
             f"{n1} regions have LQ > 1. Potential cluster: LQ > 1 and AI applications at or above the "
             f"percentile threshold; cluster: potential with intra- and interregional collaborations."]
    return Table(key, title, [["Adcode", "AI applications", "All applications", "LQ", "Potential", "Cluster"]],
                 rows, notes, stub="Region", inputs=["gold.region_lq"])


def threshold_table(region_lq: pd.DataFrame, sensitivity: pd.DataFrame, names: Mapping[str, str], *,
                    key: str, title: str) -> Table:
    """Supplementary Table B: innovation scale (AI applications) of the LQ > 1 regions and
    whether each reaches the threshold at every percentile of the sensitivity analysis."""
    _need(region_lq, ["city_code", "lq", "ai_scale", "lq_gt1", "threshold", "meets_threshold"], "gold.region_lq")
    _need(sensitivity, ["percentile", "threshold", "excluded_codes"], "gold.threshold_sensitivity")
    d = region_lq[region_lq["lq_gt1"].astype(bool)].sort_values(["ai_scale", "city_code"], ascending=[False, True])
    thr = float(region_lq["threshold"].dropna().iloc[0]) if region_lq["threshold"].notna().any() else float("nan")
    sens = sensitivity.sort_values("percentile")
    pcts = [float(p) for p in sens["percentile"]]
    excluded = {float(s.percentile): set(map(str, s.excluded_codes)) for s in sens.itertuples()}
    rows = []
    for r in d.itertuples():
        cells = [Cell(format_number(r.lq, 3), float(r.lq)),
                 Cell(format_number(r.ai_scale, 1, thousands=True), float(r.ai_scale)),
                 Cell("Yes" if r.meets_threshold else "No", bool(r.meets_threshold))]
        for q in pcts:
            ok = str(r.city_code) not in excluded[q]
            cells.append(Cell("Yes" if ok else "No", ok))
        rows.append(Row(_name(r.city_code, getattr(r, "city_name", None), names), cells))
    rows.append(Row("Threshold (AI applications)", [Cell(), Cell(), Cell(format_number(thr, 1, thousands=True), thr)]
                    + [Cell(format_number(t, 1, thousands=True), float(t)) for t in sens["threshold"]], "fit"))
    heads = ["LQ", "AI applications", "Main threshold"] + [f"P{q:g}" for q in pcts]
    notes = [f"Regions with LQ > 1 and whether their AI applications over the window reach the threshold: "
             f"the main one ({format_number(thr, 1, thousands=True)}) and the {', '.join(f'{q:g}th' for q in pcts)} "
             "percentiles of all regions' AI applications (sensitivity analysis, Fig 5)."]
    return Table(key, title, [heads], rows, notes, stub="Region",
                 inputs=["gold.region_lq", "gold.threshold_sensitivity"])
