"""The truth manifest: exact aggregates a correct pipeline must reconstruct, computed from
the plan and the entities (not from the DGP's internals and not by parsing the files).

Counting rules (docs/simulator.md, "Truth"): an application counts when it is not
corrupted; it is located at its first applicant's region when its records let a pipeline
place it there (a withheld address is placed only through the municipality's province
code, the organisation's other filings or its name; otherwise the application is counted
in no city); it is *eligible* (study 1, steps 2-3) when every applicant is a mainland
organisation. Study 1's aggregates (TI, LQ, clusters, collaborations) define AI by the
application's IPC codes against the simulator's own SEI list (``aicodes``); study 2's use
the planted label and tier. Collaborations are the unordered pairs of located applicants
of eligible cooperative AI applications (the org -> city map).
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .dgp import MAX_APPLICANTS, TIERS, TYPES, World, closeness, nc_convention, pair_arrays
from .entities import Entities
from .aicodes import AICodeList
from .plan import PlanChunk

log = logging.getLogger("patentpanel.simulate.truth")

__all__ = ["TruthAccumulator", "canonical_app_no", "sha256_file"]

_ORG = ("enterprise", "university", "institute", "hospital", "government")
_W = np.array([2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5])
_LABEL_SCHEMA = pa.schema([
    ("app_id", pa.int64()), ("app_no", pa.string()), ("app_year", pa.int64()),
    ("patent_type", pa.string()), ("type_digit", pa.int64()), ("is_ai", pa.bool_()),
    ("tier", pa.string()), ("topic", pa.string()), ("borderline", pa.bool_()),
    ("n_applicants", pa.int64()), ("first_city_adcode", pa.string()),
    ("located_city_adcode", pa.string()), ("address_withheld", pa.bool_()),
    ("province_code_blank", pa.bool_()), ("ipc_codes", pa.list_(pa.string())),
    ("is_ai_ipc", pa.bool_()), ("eligible_study1", pa.bool_()), ("n_publications", pa.int64()),
    ("corruption", pa.string()), ("survives", pa.bool_()), ("layout", pa.string())])


def canonical_app_no(year: np.ndarray, type_digit: np.ndarray, serial: np.ndarray) -> np.ndarray:
    """``CN`` + 12 digits + ``.`` + mod-11 check character (10 -> X), vectorised."""
    year, type_digit, serial = (np.asarray(x, dtype=np.int64) for x in (year, type_digit, serial))
    digits = np.stack([(year // 10 ** (3 - i)) % 10 for i in range(4)] + [type_digit]
                      + [(serial // 10 ** (6 - i)) % 10 for i in range(7)], axis=1)
    chk = (digits * _W).sum(axis=1) % 11
    body = pd.Series(year).astype(str) + pd.Series(type_digit).astype(str) + pd.Series(serial).astype(str).str.zfill(7)
    ch = np.where(chk == 10, "X", chk.astype(str))
    return ("CN" + body + "." + ch).to_numpy(dtype=object)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class TruthAccumulator:
    """Add plan chunks, then ``finish(out_dir)``; memory holds region-year arrays only
    (labels stream to Parquet)."""

    def __init__(self, world: World, ent: Entities, out_dir: Path | None = None):
        self.world, self.ent = world, ent
        R, T = len(world.regions), len(world.years)
        self.R, self.T, self.y0 = R, T, int(world.years[0])
        ek = ent.frame["kind"].to_numpy()
        self.ent_region = ent.frame["region_id"].to_numpy()
        self.ent_org = np.isin(ek, _ORG)
        self.ent_ind = ek == "individual"
        n_org = int(ent.org_count.sum())
        self.ent_name_places = np.zeros(len(ek), bool)
        self.ent_name_places[:n_org] = ent.name_places
        self.region_muni = world.regions["is_municipality"].astype(str).isin(["1", "True", "true"]).to_numpy()
        spec = world.spec
        self.codes = AICodeList.load(spec.path(spec.p["content"]["study1_ai_codes"]))
        # counts[r, t, type, flag]: flags 0 located, 1 eligible, 2 AI located, 3 AI eligible
        # (planted label), 4 AI eligible by study 1's code list
        self.counts = np.zeros((R, T, 3, 5), dtype=np.int64)
        self.tiers = np.zeros((R, T, 3, 3), dtype=np.int64)           # AI located by tier, type
        self.tiers_elig = np.zeros((R, T, 3, 3), dtype=np.int64)
        self.frac = np.zeros((R, T))                                  # planted label: eligible AI inventions
        self.frac_all = np.zeros((R, T))                              # planted label: eligible AI, all types
        self.frac_ipc = np.zeros((R, T))                              # study 1's TI (code list)
        self.frac_all_ipc = np.zeros((R, T))
        self.edges = []
        self.national = np.zeros((T, 3, 2), dtype=np.int64)           # all surviving incl. foreign
        self.n_rows = 0
        self.first_ids: list[np.ndarray] = []
        self.n_records = 0
        self.n_corrupt = 0
        self.n_withheld = 0
        self.n_withheld_unlocated = 0
        self.evidence = np.zeros(len(ek), bool)      # organisations with a written first-applicant address
        self._pending: list[tuple[pd.DataFrame, np.ndarray]] = []
        self.out_dir = out_dir
        self._labels_writer = None

    def add(self, chunk: PlanChunk) -> None:
        """Count a plan chunk. Only the first applicant's address is recorded, so an
        organisation is placed by its own written address (first applicant), else by its
        filings as first applicant with a written address in any year (the pipeline's
        organisation gazetteer) or by its name; a withheld address of a municipality's
        applicant is placed by the province code (docs/simulator.md, "Withheld
        addresses"). Rows that need an organisation's later filings wait for
        :meth:`resolve` (called by the results)."""
        f, ids = chunk.frame, chunk.applicants
        self.n_rows += len(f)
        self.n_records += int(f["n_publications"].sum())
        ok = f["corruption"].isna().to_numpy()
        self.n_corrupt += int((~ok).sum())
        withheld = f["address_withheld"].to_numpy(bool)
        first = ids[:, 0]
        org_first = (first >= 0) & self.ent_org[np.maximum(first, 0)]
        self.evidence[first[ok & ~withheld & org_first]] = True
        self.first_ids.append(np.unique(ids[ok, 0]))
        self.n_withheld += int((ok & withheld).sum())
        reg, pending = self._locate(f, ids, final=False)
        if pending.any():
            self._pending.append((f[pending].reset_index(drop=True), ids[pending]))
            keep = ~pending
            self._count(f[keep].reset_index(drop=True), ids[keep], reg[keep])
        else:
            self._count(f, ids, reg)

    def _locate(self, f: pd.DataFrame, ids: np.ndarray, final: bool) -> tuple[np.ndarray, np.ndarray]:
        """(region of every applicant a pipeline can place, else -1; rows still undecided)."""
        valid = ids >= 0
        safe = np.where(valid, ids, 0)
        home = np.where(valid, self.ent_region[safe], -1)
        org = valid & self.ent_org[safe]
        known = self.evidence[safe] | self.ent_name_places[safe]
        placed = org & known                                   # gazetteer or name
        undecided = org & ~known & ~final
        # the first applicant: its own written address, or the municipality's province code
        withheld = f["address_withheld"].to_numpy(bool)
        h0 = home[:, 0]
        muni = (h0 >= 0) & self.region_muni[np.maximum(h0, 0)] & ~f["province_code_blank"].to_numpy(bool)
        own = valid[:, 0] & (h0 >= 0) & (~withheld | muni)
        placed[:, 0] |= own
        undecided[:, 0] &= ~own
        return np.where(placed, home, -1), undecided.any(axis=1)

    def resolve(self) -> None:
        """Count the waiting rows with the evidence of the whole plan."""
        pending, self._pending = self._pending, []
        for f, ids in pending:
            reg, _ = self._locate(f, ids, final=True)
            self._count(f, ids, reg)

    def _count(self, f: pd.DataFrame, ids: np.ndarray, reg: np.ndarray) -> None:
        ok = f["corruption"].isna().to_numpy()
        t = f["app_year"].to_numpy() - self.y0
        ty = pd.Categorical(f["patent_type"], categories=TYPES).codes.astype(np.int64)
        ai = f["is_ai"].to_numpy(bool)
        ai_ipc = np.fromiter((self.codes.is_ai(c) for c in f["ipc_codes"]), bool, len(f))
        tier = pd.Categorical(f["tier"], categories=TIERS).codes.astype(np.int64)
        valid = ids >= 0
        k = valid.sum(axis=1)
        safe = np.where(valid, ids, 0)
        self.n_withheld_unlocated += int((ok & f["address_withheld"].to_numpy(bool) & (reg[:, 0] < 0)).sum())
        is_org = np.where(valid, self.ent_org[safe], True)
        elig = is_org.all(axis=1) & (k > 0)
        first = reg[:, 0]
        np.add.at(self.national, (t[ok], ty[ok], ai[ok].astype(int)), 1)
        loc = ok & (first >= 0)
        for flag, m in enumerate((loc, loc & elig, loc & ai, loc & ai & elig, loc & ai_ipc & elig)):
            np.add.at(self.counts, (first[m], t[m], ty[m], flag), 1)
        m = loc & ai
        np.add.at(self.tiers, (first[m], t[m], tier[m], ty[m]), 1)
        m = loc & ai & elig
        np.add.at(self.tiers_elig, (first[m], t[m], tier[m], ty[m]), 1)
        # fractional counts: 1/k to each located applicant (an unlocated share is lost)
        for flag, frac, frac_all in ((ai, self.frac, self.frac_all), (ai_ipc, self.frac_ipc, self.frac_all_ipc)):
            e = ok & flag & elig
            for j in range(MAX_APPLICANTS):
                mj = e & (k > j) & (reg[:, j] >= 0)
                np.add.at(frac_all, (reg[mj, j], t[mj]), 1.0 / k[mj])
                mi = mj & (ty == 0)
                np.add.at(frac, (reg[mi, j], t[mi]), 1.0 / k[mi])
        # collaborations (study 1): pairs of located applicants of eligible AI applications
        c = ok & ai_ipc & elig & (k >= 2)
        if c.any():
            pi, a, b = pair_arrays(reg[c], k[c])
            both = (a >= 0) & (b >= 0)
            pi, a, b = pi[both], a[both], b[both]
            yr = t[c][pi]
            lo, hi = np.minimum(a, b), np.maximum(a, b)
            key = (yr * self.R + lo) * self.R + hi
            uk, cnt = np.unique(key, return_counts=True)
            self.edges.append((uk, cnt))
        if self.out_dir is not None:
            self._write_labels(f, ids, reg, elig, ok, ai_ipc)

    def _write_labels(self, f, ids, reg, elig, ok, ai_ipc):
        adc = self.world.regions["adcode"].to_numpy(dtype=object)
        home = np.where(ids[:, 0] >= 0, self.ent_region[np.maximum(ids[:, 0], 0)], -1)
        first = reg[:, 0]
        tab = pd.DataFrame({
            "app_id": f["app_id"].to_numpy(),
            "app_no": canonical_app_no(f["app_year"], f["type_digit"], f["serial"]),
            "app_year": f["app_year"].to_numpy(), "patent_type": f["patent_type"].to_numpy(),
            "type_digit": f["type_digit"].to_numpy(), "is_ai": f["is_ai"].to_numpy(),
            "tier": f["tier"].to_numpy(), "topic": f["topic"].to_numpy(),
            "borderline": f["borderline"].to_numpy(), "n_applicants": (ids >= 0).sum(axis=1),
            "first_city_adcode": np.where(home >= 0, adc[np.maximum(home, 0)], None),
            "located_city_adcode": np.where(first >= 0, adc[np.maximum(first, 0)], None),
            "address_withheld": f["address_withheld"].to_numpy(bool),
            "province_code_blank": f["province_code_blank"].to_numpy(bool),
            "ipc_codes": f["ipc_codes"].tolist(), "is_ai_ipc": ai_ipc,
            "eligible_study1": elig, "n_publications": f["n_publications"].to_numpy(),
            "corruption": f["corruption"].to_numpy(), "survives": ok,
            "layout": f["layout"].to_numpy(),
        })
        table = pa.Table.from_pandas(tab, schema=_LABEL_SCHEMA, preserve_index=False)
        if self._labels_writer is None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self._labels_writer = pq.ParquetWriter(self.out_dir / "applications.parquet", table.schema)
        self._labels_writer.write_table(table)

    # ------------------------------------------------------------------------------ results
    def edge_table(self) -> pd.DataFrame:
        """Study 1's co-application edges: (year, a, b, n_collab) over region pairs."""
        self.resolve()
        if not self.edges:
            return pd.DataFrame({"year": [], "a": [], "b": [], "n_collab": []})
        uk = np.concatenate([e[0] for e in self.edges])
        cnt = np.concatenate([e[1] for e in self.edges])
        uk2, inv = np.unique(uk, return_inverse=True)
        n = np.bincount(inv, weights=cnt).astype(np.int64)
        hi = uk2 % self.R
        lo = (uk2 // self.R) % self.R
        yr = uk2 // (self.R * self.R) + self.y0
        adc = self.world.regions["adcode"].to_numpy(dtype=object)
        return pd.DataFrame({"year": yr, "a": adc[lo], "b": adc[hi], "a_id": lo, "b_id": hi, "n_collab": n})

    def region_year(self) -> pd.DataFrame:
        self.resolve()
        R, T = self.R, self.T
        reg = self.world.regions
        out = pd.DataFrame({"region_id": np.repeat(np.arange(R), T),
                            "adcode": np.repeat(reg["adcode"].to_numpy(), T),
                            "year": np.tile(self.world.years, R)})
        names = ("all", "eligible", "ai", "ai_eligible", "ai_ipc_eligible")
        for fi, fn in enumerate(names):
            for ti, tn in enumerate(TYPES):
                out[f"{fn}_{tn}"] = self.counts[:, :, ti, fi].ravel()
            out[f"{fn}_total"] = self.counts[:, :, :, fi].sum(axis=2).ravel()
        for ki, kn in enumerate(TIERS):
            for ti, tn in enumerate(TYPES):
                out[f"ai_{kn}_{tn}"] = self.tiers[:, :, ki, ti].ravel()
            out[f"ai_{kn}"] = self.tiers[:, :, ki, :].sum(axis=2).ravel()
            out[f"ai_eligible_{kn}"] = self.tiers_elig[:, :, ki, :].sum(axis=2).ravel()
        out["ti_fractional"] = self.frac.ravel()
        out["ai_eligible_fractional"] = self.frac_all.ravel()
        out["ti_ipc_fractional"] = self.frac_ipc.ravel()
        out["ai_ipc_eligible_fractional"] = self.frac_all_ipc.ravel()
        return out

    def lq(self, ry: pd.DataFrame, edges: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
        """Study 1's LQ (Eq. 1, first-applicant counting, eligible applications, window
        means), the percentile threshold, intra/inter collaborations and the cluster set."""
        spec = self.world.spec
        w = spec.p["study1"]["window"]
        w0, w1 = int(w["start"]), int(w["end"])
        win = ry[(ry["year"] >= w0) & (ry["year"] <= w1)]
        g = win.groupby("region_id")[["ai_ipc_eligible_total", "eligible_total"]].sum()
        g = g.reindex(np.arange(self.R), fill_value=0)
        years = w1 - w0 + 1
        A, P = g["ai_ipc_eligible_total"].to_numpy(float), g["eligible_total"].to_numpy(float)
        share = A.sum() / P.sum()
        with np.errstate(divide="ignore", invalid="ignore"):
            lq = np.where(P > 0, (A / years) / (P / years) / share, np.nan)
        pct = float(spec.net("lq.percentile", 80.0))
        method = spec.net("lq.percentile_method", "linear")
        measure = spec.net("lq.threshold_measure", "total")
        val = A if measure == "total" else A / years
        thr = float(np.percentile(val, pct, method=method))
        inclusive = bool(spec.net("lq.threshold_inclusive", True))
        above = val >= thr if inclusive else val > thr
        ew = edges[(edges["year"] >= w0) & (edges["year"] <= w1)]
        intra = np.bincount(ew["a_id"][ew["a_id"] == ew["b_id"]].to_numpy(np.int64),
                            weights=ew["n_collab"][ew["a_id"] == ew["b_id"]].to_numpy(float), minlength=self.R)
        x = ew[ew["a_id"] != ew["b_id"]]
        inter = (np.bincount(x["a_id"].to_numpy(np.int64), weights=x["n_collab"].to_numpy(float), minlength=self.R)
                 + np.bincount(x["b_id"].to_numpy(np.int64), weights=x["n_collab"].to_numpy(float), minlength=self.R))
        reg = self.world.regions
        mi = int(spec.net("clusters.min_intra", 1))
        mx = int(spec.net("clusters.min_inter", 1))
        potential = (lq > 1) & above
        out = pd.DataFrame({
            "region_id": np.arange(self.R), "adcode": reg["adcode"], "name": reg["name"], "name_en": reg["name_en"],
            "ai_applications": A.astype(np.int64), "all_applications": P.astype(np.int64),
            "ai_mean_annual": A / years, "all_mean_annual": P / years, "lq": lq,
            "lq_gt_1": lq > 1, "above_threshold": above, "potential_cluster": potential,
            "intra": intra.astype(np.int64), "inter": inter.astype(np.int64),
            "cluster": potential & (intra >= mi) & (inter >= mx),
            "planted_group": reg["group"], "volume_group": reg["volume_group"],
        })
        info = {"national_ai_share": float(share), "threshold": thr, "percentile": pct,
                "percentile_method": method, "threshold_measure": measure, "threshold_inclusive": inclusive,
                "window": [w0, w1], "counting": "first_applicant",
                "exclusions": "patents with an individual or a non-mainland applicant are dropped "
                              "(numerator and denominator)"}
        return out, info

    def nc(self, edges: pd.DataFrame) -> pd.DataFrame:
        """NC of every active region-year recomputed from the truth's edges."""
        spec = self.world.spec
        conv = nc_convention(spec)
        cl = np.flatnonzero(self.world.regions["group"].to_numpy() == "cluster")
        out = []
        for t in self.world.years:
            e = edges[edges["year"] == t]
            a, b, n = e["a_id"].to_numpy(), e["b_id"].to_numpy(), e["n_collab"].to_numpy(float)
            if conv["nodes"] == "gazetteer":
                nodes = np.arange(self.R)
            elif conv["nodes"] == "inter":
                nodes = np.unique(np.r_[a[a != b], b[a != b]])
            else:
                nodes = np.unique(np.r_[a, b])
            if len(nodes) == 0:
                continue
            idx = np.full(self.R, -1)
            idx[nodes] = np.arange(len(nodes))
            m = a != b
            if conv["edge_scope"] != "all":
                m &= np.isin(a, cl) | np.isin(b, cl)
            c = closeness(len(nodes), idx[a[m]], idx[b[m]], n[m], conv["closeness"], conv["distance"]) * conv["scale"]
            out.append(pd.DataFrame({"region_id": nodes, "year": int(t), "nc": c}))
        return pd.concat(out, ignore_index=True)

    def close(self):
        self.resolve()
        if self._labels_writer is not None:
            self._labels_writer.close()
            self._labels_writer = None
