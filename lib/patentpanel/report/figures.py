"""The papers' figures with matplotlib (Agg canvas, no pyplot state), each written as PNG
and SVG: study 1 Fig 2 (LQ of the potential clusters), Fig 3 (interregional network on
the gazetteer's lon/lat), Fig 4 (moderation by NC with delta-method bands), Fig 5
(threshold sensitivity), Fig 6 (placebo kernel density and the real coefficient); study 2
coefficient plots (tiers, interactions, heterogeneity, lags).

Every function takes pandas frames / :class:`~patentpanel.report.tables.ModelColumn` s
and a path stem, and returns the files written. Output is deterministic (fixed SVG hash
salt, no dates in the metadata).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

log = logging.getLogger("patentpanel.report.figures")

__all__ = ["FigureError", "lq_bars", "network_map", "moderation_plot", "threshold_plot",
           "placebo_density", "coefficient_plot", "CoefPoint", "delta_method_band",
           "marginal_effect"]

FIG_FORMATS = ("png", "svg")
BLUE, ORANGE, GREY, RED, GREEN = "#1f4e79", "#d9822b", "#9aa5b1", "#c0392b", "#2e7d32"


class FigureError(ValueError):
    """A figure cannot be drawn from the data given (names the figure and the field)."""


def _style() -> dict[str, Any]:
    return {"font.family": "DejaVu Sans", "font.size": 9, "axes.spines.top": False,
            "axes.spines.right": False, "axes.titlesize": 10, "axes.titleweight": "bold",
            "svg.hashsalt": "patentpanel", "svg.fonttype": "none", "figure.dpi": 100}


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, stem: Path, formats: Sequence[str], dpi: int) -> list[Path]:
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for fmt in formats:
        if fmt not in FIG_FORMATS:
            raise FigureError(f"figure format {fmt!r} not in {FIG_FORMATS}")
        p = stem.with_suffix(f".{fmt}")
        meta = {"Date": None, "Creator": "patentpanel"} if fmt == "svg" else {"Software": "patentpanel"}
        fig.savefig(p, format=fmt, dpi=dpi, metadata=meta)
        out.append(p)
    return out


def _draw(fn):
    """Run a drawing function under the house style."""
    def wrapper(*args, formats: Sequence[str] = FIG_FORMATS, dpi: int = 150, **kw):
        import matplotlib
        with matplotlib.rc_context(_style()):
            fig, stem = fn(*args, **kw)
            return _save(fig, stem, formats, dpi)
    wrapper.__name__, wrapper.__doc__ = fn.__name__, fn.__doc__
    return wrapper


def _need(df: pd.DataFrame, cols: Sequence[str], what: str) -> None:
    miss = [c for c in cols if c not in df.columns]
    if miss:
        raise FigureError(f"{what}: missing column(s) {miss}; has {list(df.columns)}")


# ----------------------------------------------------------------------------- Fig 2
@_draw
def lq_bars(region_lq: pd.DataFrame, names: Mapping[str, str], stem: Path, *, title: str = "") -> tuple:
    """Fig 2: LQ of every region with LQ > 1, highest first; clusters, potential clusters
    without collaborations of both kinds, and regions below the scale threshold apart."""
    _need(region_lq, ["city_code", "lq", "lq_gt1", "potential", "is_cluster"], "gold.region_lq")
    d = region_lq[region_lq["lq_gt1"].astype(bool)].sort_values("lq", ascending=False)
    if d.empty:
        raise FigureError("Fig 2: no region has LQ > 1")
    fig = _figure(max(6.5, 0.24 * len(d) + 1.5), 3.8)
    ax = fig.add_subplot()
    x = np.arange(len(d))
    colors = np.where(d["is_cluster"], BLUE, np.where(d["potential"], ORANGE, GREY))
    ax.bar(x, d["lq"], color=colors, width=0.75, edgecolor="none")
    ax.axhline(1.0, color="#333", lw=0.8, ls="--")
    ax.set_xticks(x, [names.get(str(c), str(c)) for c in d["city_code"]], rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("Location quotient (AI applications)")
    ax.set_xlim(-0.7, len(d) - 0.3)
    from matplotlib.patches import Patch
    handles = [Patch(color=BLUE, label=f"AI cluster ({int(d['is_cluster'].sum())})"),
               Patch(color=ORANGE, label="potential, lacks intra/inter links"),
               Patch(color=GREY, label="below the scale threshold")]
    handles = [h for h, n in zip(handles, [d["is_cluster"].sum(), (d["potential"] & ~d["is_cluster"]).sum(),
                                           (~d["potential"]).sum()]) if n]
    ax.legend(handles=handles, frameon=False, loc="upper right")
    ax.set_title(title or "Potential AI clusters: regions with LQ > 1", loc="left")
    return fig, stem


# ----------------------------------------------------------------------------- Fig 3
@_draw
def network_map(edges: pd.DataFrame, clusters: Sequence[str], gazetteer: pd.DataFrame, stem: Path, *,
                years: tuple[int, int] | None = None, title: str = "", label_top: int = 29) -> tuple:
    """Fig 3: the interregional collaboration network incident to the clusters, on the
    gazetteer's lon/lat. Node area ~ total collaborations of the node in this network,
    edge width ~ collaborations of the pair (summed over ``years``)."""
    _need(edges, ["region_a", "region_b", "n_collab"], "gold.region_edges")
    _need(gazetteer, ["adcode", "lon", "lat"], "gazetteer")
    e = edges.copy()
    if years is not None and "app_year" in e.columns:
        e = e[e["app_year"].between(*years)]
    e = e[e["region_a"] != e["region_b"]]
    cl = set(map(str, clusters))
    e = e[e["region_a"].astype(str).isin(cl) | e["region_b"].astype(str).isin(cl)]
    e = e.groupby(["region_a", "region_b"], as_index=False)["n_collab"].sum()
    if e.empty:
        raise FigureError("Fig 3: no interregional collaboration touches a cluster")
    g = gazetteer.assign(adcode=gazetteer["adcode"].astype(str)).set_index("adcode")
    nodes = pd.concat([e[["region_a", "n_collab"]].rename(columns={"region_a": "c"}),
                       e[["region_b", "n_collab"]].rename(columns={"region_b": "c"})])
    weight = nodes.groupby("c")["n_collab"].sum().sort_values(ascending=False)
    unplaced = [c for c in weight.index if c not in g.index or pd.isna(g.loc[c, "lon"])]
    if unplaced:
        log.warning("Fig 3: %d regions without coordinates left out: %s", len(unplaced), unplaced[:5])
        weight = weight.drop(unplaced)
        e = e[~e["region_a"].isin(unplaced) & ~e["region_b"].isin(unplaced)]
    lon, lat = g["lon"].astype(float), g["lat"].astype(float)
    fig = _figure(7.5, 6.2)
    ax = fig.add_subplot()
    from matplotlib.collections import LineCollection
    e = e.sort_values("n_collab")
    segs = [[(lon[a], lat[a]), (lon[b], lat[b])] for a, b in zip(e["region_a"], e["region_b"])]
    w = e["n_collab"].to_numpy(float)
    rel = w / w.max()
    lc = LineCollection(segs, linewidths=0.15 + 3.5 * rel, colors=[(0.12, 0.31, 0.47, 0.12 + 0.6 * r) for r in rel],
                        zorder=1, capstyle="round")
    ax.add_collection(lc)
    codes = list(weight.index)
    is_cl = np.array([c in cl for c in codes])
    size = 8 + 900 * (weight.to_numpy(float) / weight.max())
    ax.scatter(lon[codes][~is_cl], lat[codes][~is_cl], s=size[~is_cl], c=GREY, alpha=0.8,
               edgecolors="white", linewidths=0.4, zorder=2, label="other region")
    ax.scatter(lon[codes][is_cl], lat[codes][is_cl], s=size[is_cl], c=ORANGE, alpha=0.9,
               edgecolors="white", linewidths=0.6, zorder=3, label="AI cluster")
    name_col = "name_en" if "name_en" in g.columns else "name"
    top = [c for c in codes if c in cl][:label_top]
    for c in top:
        ax.annotate(str(g.loc[c, name_col]), (lon[c], lat[c]), xytext=(3, 3), textcoords="offset points",
                    fontsize=7, zorder=4, color="#222")
    ax.set_aspect(1 / math.cos(math.radians(float(lat[codes].mean()))))
    pad = 1.0
    ax.set_xlim(lon[codes].min() - pad, lon[codes].max() + pad)
    ax.set_ylim(lat[codes].min() - pad, lat[codes].max() + pad)
    ax.set_xlabel("Longitude (°E)")
    ax.set_ylabel("Latitude (°N)")
    leg = ax.legend(frameon=False, loc="lower right", markerscale=0.35)
    leg.set_zorder(5)
    span = f" {years[0]}-{years[1]}" if years else ""
    ax.set_title(title or f"Innovation network containing the AI clusters{span}", loc="left")
    fig.text(0.01, 0.002, f"{len(codes)} regions, {len(e)} links, {int(w.sum()):,} collaborations; "
             "node area ~ total collaborations of the region, line width ~ collaborations of the pair",
             fontsize=7, color="#555", ha="left", va="bottom")
    return fig, stem


# ----------------------------------------------------------------------------- Fig 4
def delta_method_band(grad: np.ndarray, cov: np.ndarray, crit: float) -> np.ndarray:
    """Half-width crit * sqrt(g' V g) for each row g of ``grad``."""
    grad = np.atleast_2d(grad)
    var = np.einsum("ij,jk,ik->i", grad, cov, grad)
    return crit * np.sqrt(np.clip(var, 0.0, None))


def marginal_effect(params: pd.Series, cov: pd.DataFrame, z_values: Sequence[float] | np.ndarray, *,
                    x: str = "ip", xz: str = "ip_x_nc", centre_z: float = 0.0,
                    level: float = 0.95) -> pd.DataFrame:
    """dy/dx = b_x + b_xz (z - centre_z) at each z, with its delta-method standard error
    sqrt(V_xx + d^2 V_xzxz + 2 d V_x,xz), d = z - centre_z, and the pointwise normal
    ``level`` interval (the GMM coefficients carry z statistics). Columns: z, effect, se,
    lower, upper."""
    from scipy import stats
    for t in (x, xz):
        if t not in params.index or t not in cov.index or t not in cov.columns:
            raise FigureError(f"marginal effect: term {t!r} not among the estimates/covariance "
                              f"({list(params.index)})")
    zs = np.asarray(z_values, float)
    b = params[[x, xz]].to_numpy(float)
    V = cov.loc[[x, xz], [x, xz]].to_numpy(float)
    if not np.all(np.isfinite(b)) or not np.all(np.isfinite(V)):
        raise FigureError(f"marginal effect: the coefficients or covariance of {x}, {xz} are not finite "
                          f"(omitted term?)")
    G = np.column_stack([np.ones_like(zs), zs - centre_z])
    crit = float(stats.norm.ppf(0.5 + level / 2))
    me = G @ b
    se = delta_method_band(G, V, 1.0)
    return pd.DataFrame({"z": zs, "effect": me, "se": se, "lower": me - crit * se, "upper": me + crit * se})


@_draw
def moderation_plot(params: pd.Series, cov: pd.DataFrame, data: pd.DataFrame, stem: Path, *,
                    x: str = "ip", z: str = "nc", xz: str = "ip_x_nc", centre: tuple[float, float] | None = None,
                    level: float = 0.95, x_label: str = "IP", z_label: str = "NC", y_label: str = "TI",
                    title: str = "") -> tuple:
    """Fig 4: (a) simple slopes of TI on IP at NC = mean ± 1 SD, relative to the prediction
    at the means; (b) the marginal effect dTI/dIP = b_x + b_xz (NC - c_NC) across the
    observed NC. Bands: pointwise delta-method ``level`` intervals from the coefficient
    covariance of (b_x, b_z, b_xz). ``centre``: the means the interaction was centred on
    (default: column means of ``data``, as GMMSpec's ``centre: true``)."""
    from scipy import stats
    for t in (x, z, xz):
        if t not in params.index or t not in cov.index:
            raise FigureError(f"Fig 4: term {t!r} not among the estimates/covariance ({list(params.index)})")
    _need(data, [x, z], "Fig 4 data")
    names = [x, z, xz]
    b = params[names].to_numpy(float)
    V = cov.loc[names, names].to_numpy(float)
    cx, cz = centre if centre is not None else (float(data[x].mean()), float(data[z].mean()))
    both = data[[x, z]].dropna()
    mx, sx, mz, sz = both[x].mean(), both[x].std(ddof=1), both[z].mean(), both[z].std(ddof=1)
    crit = float(stats.norm.ppf(0.5 + level / 2))
    fig = _figure(9.0, 3.8)
    ax1, ax2 = fig.subplots(1, 2)
    xs = np.linspace(mx - sx, mx + sx, 60)
    for zv, lab, col in ((mz - sz, f"low {z_label} (mean - 1 SD)", BLUE), (mz + sz, f"high {z_label} (mean + 1 SD)", RED)):
        dx, dz = xs - cx, zv - cz
        gx = np.column_stack([dx, np.full_like(xs, dz), dx * dz])
        gm = np.array([mx - cx, mz - cz, (mx - cx) * (mz - cz)])
        G = gx - gm  # prediction relative to the point at the means
        yhat = G @ b
        hw = delta_method_band(G, V, crit)
        ax1.plot(xs, yhat, color=col, lw=1.8, label=lab)
        ax1.fill_between(xs, yhat - hw, yhat + hw, color=col, alpha=0.15, lw=0)
    ax1.axhline(0, color="#666", lw=0.6)
    ax1.set_xlabel(f"{x_label} (log)")
    ax1.set_ylabel(f"Predicted {y_label} relative to the means (log)")
    ax1.set_title("(a) Simple slopes", loc="left")
    ax1.legend(frameon=False, fontsize=8)
    band = marginal_effect(params, cov, np.linspace(both[z].min(), both[z].max(), 100), x=x, xz=xz,
                           centre_z=cz, level=level)
    zs, me = band["z"].to_numpy(), band["effect"].to_numpy()
    ax2.plot(zs, me, color=BLUE, lw=1.8)
    ax2.fill_between(zs, band["lower"], band["upper"], color=BLUE, alpha=0.18, lw=0,
                     label=f"{level:.0%} CI (delta method)")
    ax2.axhline(0, color="#666", lw=0.6)
    ax2.plot(both[z], np.full(len(both), ax2.get_ylim()[0]), "|", color="#555", ms=6, alpha=0.5)
    ax2.set_xlabel(f"{z_label} (log)")
    ax2.set_ylabel(f"Marginal effect of {x_label} on {y_label}")
    ax2.set_title(f"(b) d{y_label}/d{x_label} across {z_label}", loc="left")
    ax2.legend(frameon=False, fontsize=8)
    fig.suptitle(title or f"Moderating effect of {z_label} on the {x_label}-{y_label} link", x=0.01,
                 ha="left", fontweight="bold", fontsize=10)
    return fig, stem


# ----------------------------------------------------------------------------- Fig 5
@_draw
def threshold_plot(sensitivity: pd.DataFrame, region_lq: pd.DataFrame, names: Mapping[str, str], stem: Path, *,
                   main_percentile: float | None = None, title: str = "", show_excluded: int = 5,
                   show_retained: int = 3) -> tuple:
    """Fig 5: the threshold (AI applications) at each percentile, with the innovation
    scale of the LQ > 1 regions nearest to it: the largest ones it excludes (red: at every
    percentile, orange: at some) and the smallest retained (green)."""
    _need(sensitivity, ["percentile", "threshold", "excluded_codes"], "gold.threshold_sensitivity")
    _need(region_lq, ["city_code", "ai_scale", "lq_gt1"], "gold.region_lq")
    s = sensitivity.sort_values("percentile")
    if s.empty:
        raise FigureError("Fig 5: gold.threshold_sensitivity is empty")
    lq1 = region_lq[region_lq["lq_gt1"].astype(bool)]
    sets = [set(map(str, c)) for c in s["excluded_codes"]]
    ever, always = set().union(*sets), set.intersection(*sets)
    excl = lq1[lq1["city_code"].astype(str).isin(ever)].sort_values("ai_scale", ascending=False)
    kept = lq1[~lq1["city_code"].astype(str).isin(ever)].sort_values("ai_scale").head(show_retained)
    shown = excl.head(show_excluded)
    fig = _figure(7.6, 4.4)
    ax = fig.add_subplot()
    qs = s["percentile"].to_numpy(float)
    ax.plot(qs, s["threshold"], "-o", color=BLUE, lw=1.8, ms=5, zorder=3)
    for q, t in zip(qs, s["threshold"]):
        ax.annotate(f"{t:,.0f}", (q, t), xytext=(0, 7), textcoords="offset points", ha="center", fontsize=7, color=BLUE)
    if main_percentile is not None:
        ax.axvline(main_percentile, color="#888", lw=0.8, ls=":")
    lines = [(r.ai_scale, names.get(str(r.city_code), str(r.city_code)),
              RED if str(r.city_code) in always else ORANGE, "--") for r in shown.itertuples()]
    lines += [(r.ai_scale, names.get(str(r.city_code), str(r.city_code)), GREEN, ":") for r in kept.itertuples()]
    vals = [v for v, *_ in lines] + list(s["threshold"])
    top = 1.12 * max(vals) if vals else 1.0
    ax.set_ylim(0, top)
    # labels in a column right of the data, pushed apart so they never overlap
    gap = 0.045 * top
    order = sorted(range(len(lines)), key=lambda k: lines[k][0])
    ys, last = {}, -np.inf
    for k in order:
        ys[k] = max(lines[k][0], last + gap)
        last = ys[k]
    x1 = qs.max() + 0.6
    for k, (v, lab, col, ls) in enumerate(lines):
        ax.plot([qs.min() - 0.4, qs.max() + 0.4], [v, v], color=col, lw=0.9, ls=ls, zorder=1)
        ax.annotate(f"{lab}: {v:,.0f}", (qs.max() + 0.4, v), xytext=(x1, ys[k]), textcoords="data", va="center",
                    fontsize=7, color=col, arrowprops={"arrowstyle": "-", "color": col, "lw": 0.5})
    ax.set_xlim(qs.min() - 0.5, qs.max() + 0.5 + 0.32 * (qs.max() - qs.min() + 1))
    ax.set_xticks(qs, [f"{q:g}" for q in qs])
    ax.set_xlabel("Percentile of AI applications over all regions")
    ax.set_ylabel("AI applications (window total)")
    from matplotlib.lines import Line2D
    handles = [Line2D([], [], color=BLUE, marker="o", label="threshold")]
    if any(c == RED for _, _, c, _ in lines):
        handles.append(Line2D([], [], color=RED, ls="--", label="LQ > 1, excluded at every percentile"))
    if any(c == ORANGE for _, _, c, _ in lines):
        handles.append(Line2D([], [], color=ORANGE, ls="--", label="LQ > 1, excluded at some percentiles"))
    if len(kept):
        handles.append(Line2D([], [], color=GREEN, ls=":", label="LQ > 1, smallest retained"))
    ax.legend(handles=handles, frameon=False, loc="lower left", fontsize=8)
    if len(excl) > len(shown):
        ax.text(0.0, -0.16, f"{len(excl) - len(shown)} further LQ > 1 regions with fewer AI applications "
                f"(at most {excl['ai_scale'].iloc[len(shown)]:,.0f}) are excluded at every percentile; not drawn.",
                transform=ax.transAxes, fontsize=7, color="#555")
    ax.set_title(title or "Sensitivity of the cluster set to the scale threshold", loc="left")
    return fig, stem


# ----------------------------------------------------------------------------- Fig 6
@_draw
def placebo_density(summary: Mapping[str, Any], draws: np.ndarray | None, stem: Path, *,
                    term_label: str = "IP", title: str = "") -> tuple:
    """Fig 6: kernel density of the placebo coefficients (solid red) and the real
    coefficient (dotted red), as the paper draws it; a histogram of the draws behind."""
    x = np.asarray(summary.get("density_x") or [], float)
    y = np.asarray(summary.get("density") or [], float)
    real = summary.get("real_coef")
    if real is None or not np.isfinite(real):
        raise FigureError("Fig 6: the placebo summary has no real coefficient")
    if x.size == 0 and (draws is None or len(draws) == 0):
        raise FigureError("Fig 6: no placebo draws and no density")
    fig = _figure(6.4, 4.0)
    ax = fig.add_subplot()
    if draws is not None and len(draws):
        ax.hist(draws, bins=min(40, max(10, len(draws) // 25)), density=True, color="#d5dbe1",
                edgecolor="white", lw=0.4, label=f"placebo draws (n = {len(draws):,})")
    if x.size:
        ax.plot(x, y, color=RED, lw=1.8, label="kernel density of placebo coefficients")
    ax.axvline(real, color=RED, lw=1.6, ls=(0, (2, 2)), label=f"real coefficient = {real:.3f}")
    mean = summary.get("mean")
    if mean is not None and np.isfinite(mean):
        ax.axvline(mean, color="#555", lw=0.8, ls="-", alpha=0.6)
    lo = min(float(np.nanmin(x)) if x.size else np.inf,
             float(np.nanmin(draws)) if draws is not None and len(draws) else np.inf, real)
    hi = max(float(np.nanmax(x)) if x.size else -np.inf,
             float(np.nanmax(draws)) if draws is not None and len(draws) else -np.inf, real)
    pad = 0.06 * (hi - lo if hi > lo else 1.0)
    ax.set_xlim(lo - pad, hi + pad)
    top = max(float(np.nanmax(y)) if y.size else 0.0, max((pt.get_height() for pt in ax.patches), default=0.0))
    ax.set_ylim(0, 1.35 * top if top > 0 else 1.0)
    p = summary.get("p_two_sided")
    info = [f"mean of placebo coefficients {mean:.4f}" if mean is not None and np.isfinite(mean) else None,
            f"two-sided p = {p:.4f}" if p is not None and np.isfinite(p) else None,
            f"scheme: {summary.get('scheme')}" if summary.get("scheme") else None]
    ax.text(0.99, 0.97, "\n".join(i for i in info if i), transform=ax.transAxes, ha="right", va="top", fontsize=8)
    ax.set_xlabel(f"Coefficient of {term_label}")
    ax.set_ylabel("Density")
    ax.legend(frameon=False, loc="upper left", fontsize=8)
    ax.set_title(title or f"Placebo test: randomly assigned {term_label}", loc="left")
    return fig, stem


# ----------------------------------------------------------------------------- coefficient plots
@dataclass(frozen=True)
class CoefPoint:
    """One estimate for a coefficient plot: row ``label``, series ``group``."""
    label: str
    group: str
    coef: float
    lower: float
    upper: float
    p: float | None = None


@_draw
def coefficient_plot(points: Sequence[CoefPoint], stem: Path, *, title: str = "", xlabel: str = "Coefficient",
                     level: float = 0.95, note: str = "") -> tuple:
    """Dot-and-whisker plot: one row per label, one colour per group (dodged)."""
    if not points:
        raise FigureError(f"coefficient plot {Path(stem).name}: no estimates")
    labels = list(dict.fromkeys(p.label for p in points))
    groups = list(dict.fromkeys(p.group for p in points))
    palette = [BLUE, ORANGE, GREEN, RED, "#6a4c93", "#555555"]
    fig = _figure(6.8, 0.9 + 0.42 * len(labels) * max(1, len(groups)) ** 0.5 + 0.6)
    ax = fig.add_subplot()
    step = 0.7 / max(1, len(groups))
    for gi, g in enumerate(groups):
        off = (gi - (len(groups) - 1) / 2) * step
        pts = [p for p in points if p.group == g]
        yy = np.array([labels.index(p.label) for p in pts], float) + off
        c = np.array([p.coef for p in pts])
        lo, hi = np.array([p.lower for p in pts]), np.array([p.upper for p in pts])
        col = palette[gi % len(palette)]
        ax.errorbar(c, yy, xerr=[c - lo, hi - c], fmt="o", color=col, ms=5, capsize=2.5, lw=1.3, label=g)
    ax.axvline(0, color="#666", lw=0.7)
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xlabel(f"{xlabel} with {level:.0%} confidence interval")
    if len(groups) > 1:
        ax.legend(frameon=False, fontsize=8, loc="best")
    ax.set_title(title, loc="left")
    if note:
        ax.set_title(note, loc="right", fontsize=7, color="#555", fontweight="normal")
    ax.grid(axis="x", color="#eee", lw=0.6)
    ax.set_axisbelow(True)
    return fig, stem
