"""Variable transforms shared by the panels: the studies' log rule, min-max
normalisation, centred interactions and the missing-control rule. Pure pandas on
city-year-sized frames."""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

log = logging.getLogger("patentpanel.panels")

__all__ = ["PanelInputError", "log_transform", "minmax", "centred_product",
           "MissingControls", "handle_missing_controls", "key_repr"]

MISSING_METHODS = ("drop", "interpolate")


class PanelInputError(ValueError):
    """An input of the panels stage is unusable; the message names the rows and fields."""


def key_repr(df: pd.DataFrame, idx: Iterable, keys: Sequence[str], limit: int = 5) -> str:
    """``(city_code=110000, year=2013), ...`` for the rows ``idx`` of ``df``."""
    idx = list(idx)
    parts = ["(" + ", ".join(f"{k}={df.at[i, k]}" for k in keys) + ")" for i in idx[:limit]]
    more = f" and {len(idx) - limit} more" if len(idx) > limit else ""
    return ", ".join(parts) + more


def log_transform(df: pd.DataFrame, columns: dict[str, str], keys: Sequence[str],
                  table: str) -> tuple[pd.DataFrame, list[str]]:
    """Add ``log`` columns: ``{new: raw}``. A variable with a zero among its non-missing
    values gets log(x + 1), else log(x); returns the frame and the names given +1.
    Negative values raise :class:`PanelInputError` naming the rows."""
    out = df.copy()
    plus_one: list[str] = []
    for new, raw in columns.items():
        x = out[raw].astype(float)
        neg = out.index[x < 0]
        if len(neg):
            raise PanelInputError(f"{table}: {raw} cannot be logged: negative at "
                                  f"{key_repr(out, neg, keys)} (values {x[neg].tolist()[:5]})")
        zero = bool((x == 0).any())
        if zero:
            plus_one.append(new)
        out[new] = np.log(x + 1.0) if zero else np.log(x)
    return out, plus_one


def minmax(x: pd.Series) -> pd.Series:
    """(x - min) / (max - min) over the non-missing values; a constant series -> 0."""
    x = x.astype(float)
    lo, hi = x.min(), x.max()
    if not np.isfinite(lo) or not np.isfinite(hi):
        return x * np.nan
    if hi == lo:
        return (x * 0.0).where(x.notna())
    return (x - lo) / (hi - lo)


def centred_product(a: pd.Series, b: pd.Series, sample: pd.Series) -> tuple[pd.Series, float, float]:
    """(a - mean a) (b - mean b), the means over the rows of ``sample`` (bool) where both
    exist; null where either factor is null. Returns the product and the two means."""
    both = a.notna() & b.notna()
    s = both & sample.astype(bool)
    if not s.any():
        raise PanelInputError("centred interaction: no row of the centring sample has both factors")
    # correctly rounded means: the same rows in any order give the same bits
    ma, mb = (math.fsum(x[s].tolist()) / int(s.sum()) for x in (a, b))
    return ((a - ma) * (b - mb)).where(both), ma, mb


@dataclass
class MissingControls:
    """What :func:`handle_missing_controls` did."""
    method: str
    dropped: pd.DataFrame = field(default_factory=pd.DataFrame)   # keys + missing columns
    imputed: pd.DataFrame = field(default_factory=pd.DataFrame)   # keys + imputed columns

    def as_metadata(self) -> dict:
        return {"method": self.method, "dropped_rows": int(len(self.dropped)),
                "imputed_rows": int(len(self.imputed))}


def handle_missing_controls(df: pd.DataFrame, controls: Sequence[str], entity: str, time: str,
                            method: str, table: str) -> tuple[pd.DataFrame, MissingControls]:
    """Apply the configured rule to rows with a missing control: ``drop`` removes them;
    ``interpolate`` fills interior gaps linearly in the year within an entity (flagged in
    ``controls_imputed``) and drops what remains. Logs one line with the counts."""
    if method not in MISSING_METHODS:
        raise PanelInputError(f"panels.missing_controls: {method!r} not in {MISSING_METHODS}")
    out = df.sort_values([entity, time]).reset_index(drop=True)
    out["controls_imputed"] = False
    imputed_rows = []
    if method == "interpolate":
        for c in controls:
            miss = out[c].isna()
            if not miss.any():
                continue
            filled = out.groupby(entity, group_keys=False)[[time, c]].apply(_interp_interior, c=c, time=time)
            newly = miss & filled.notna()
            out.loc[newly, c] = filled[newly]
            out.loc[newly, "controls_imputed"] = True
            if newly.any():
                imputed_rows.append(out.loc[newly, [entity, time]].assign(column=c))
    bad = out[list(controls)].isna().any(axis=1)
    dropped = out.loc[bad, [entity, time]].copy()
    dropped["missing"] = out.loc[bad, list(controls)].isna().apply(
        lambda r: ",".join(r.index[r]), axis=1) if bad.any() else pd.Series(dtype=str)
    out = out.loc[~bad].reset_index(drop=True)
    imp = pd.concat(imputed_rows, ignore_index=True) if imputed_rows else pd.DataFrame(
        columns=[entity, time, "column"])
    rep = MissingControls(method, dropped.reset_index(drop=True), imp)
    log.info("%s: missing controls (%s): %d rows dropped, %d values interpolated%s", table, method,
             len(dropped), len(imp),
             (" (e.g. " + ", ".join(f"{r[entity]}/{r[time]}: {r['missing']}"
                                    for _, r in dropped.head(3).iterrows()) + ")") if len(dropped) else "")
    return out, rep


def _interp_interior(g: pd.DataFrame, c: str, time: str) -> pd.Series:
    s = g.set_index(time)[c].astype(float)
    filled = s.interpolate(method="index", limit_area="inside")
    return pd.Series(filled.to_numpy(), index=g.index)
