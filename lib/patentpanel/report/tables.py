"""Paper-style tables: one table model rendered as Markdown, LaTeX (booktabs), HTML, CSV
(full precision) and DOCX.

A :class:`Table` is a header (one or more rows of column labels; equal neighbours merge
into one spanning label), body rows of :class:`Cell` and notes. Each cell keeps the
display text *and* the numbers behind it (value, SE, statistic, p-value), so the CSV
carries full precision while the other formats show what the paper prints.

Regression tables are built from :class:`ModelColumn` s (one estimated model: the rows of
``gold.estimates`` for it, or any result object with ``params``/``std_errors``/
``tstats``/``pvalues``/``model_info`` such as ``GMMResults`` and ``EstimationResult``)
by :func:`regression_table` following a :class:`RegressionLayout` (held as data in
conf/report.yaml). Conventions as esttab/etable: coefficient with stars (p strictly
below each level), the statistic or SE in parentheses underneath, then fit statistics,
fixed-effect Yes/No rows and notes with the SE type and clustering.
"""
from __future__ import annotations

import csv
import html
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

log = logging.getLogger("patentpanel.report.tables")

__all__ = ["Cell", "Row", "Table", "ModelColumn", "RegressionLayout", "regression_table",
           "star_marks", "format_number", "FIT_ROWS", "FORMATS", "TableError"]

FORMATS = ("md", "tex", "html", "csv", "docx")


class TableError(ValueError):
    """A table cannot be built from what was given (names the table and the field)."""


# ----------------------------------------------------------------------------- numbers
def star_marks(p: float | None, levels: Sequence[float] = (0.1, 0.05, 0.01)) -> str:
    """One '*' per level that ``p`` is strictly below (esttab's convention: p = 0.05 earns
    only the 10% star)."""
    if p is None or not isinstance(p, (int, float, np.floating)) or not math.isfinite(p):
        return ""
    return "*" * sum(p < lv for lv in levels)


def format_number(x: Any, decimals: int = 3, thousands: bool = False) -> str:
    """Fixed decimals; '' for missing; integers with thousands separators if asked.
    A value that rounds to zero keeps its sign as the papers print it (-0.000)."""
    if x is None:
        return ""
    if isinstance(x, (bool, np.bool_)):
        return "Yes" if x else "No"
    if isinstance(x, (int, np.integer)):
        return f"{int(x):,}" if thousands else str(int(x))
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if not math.isfinite(v):
        return "" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return f"{v:,.{decimals}f}" if thousands else f"{v:.{decimals}f}"


# ----------------------------------------------------------------------------- model
@dataclass
class Cell:
    """Display text plus the numbers behind it (for the full-precision CSV)."""
    text: str = ""
    value: Any = None
    se: float | None = None
    stat: float | None = None
    stat_kind: str | None = None
    p: float | None = None


@dataclass
class Row:
    """``kind``: coef, paren (the statistic/SE line under a coefficient), fit, effect,
    data or section (a label spanning the table, e.g. a panel title)."""
    label: str
    cells: list[Cell]
    kind: str = "data"


@dataclass
class Table:
    key: str
    title: str
    header: list[list[str]]
    rows: list[Row]
    notes: list[str] = field(default_factory=list)
    stub: str = "Variable"
    description: str = ""
    inputs: list[str] = field(default_factory=list)

    @property
    def ncols(self) -> int:
        return len(self.header[-1]) if self.header else (len(self.rows[0].cells) if self.rows else 0)

    def __post_init__(self):
        n = self.ncols
        for h in self.header:
            if len(h) != n:
                raise TableError(f"table {self.key}: header row {h} has {len(h)} labels, expected {n}")
        for r in self.rows:
            if r.kind != "section" and len(r.cells) != n:
                raise TableError(f"table {self.key}: row {r.label!r} has {len(r.cells)} cells, expected {n}")

    # -- helpers
    @staticmethod
    def _spans(labels: Sequence[str]) -> list[tuple[str, int]]:
        out: list[tuple[str, int]] = []
        for lab in labels:
            if out and out[-1][0] == lab and lab != "":
                out[-1] = (lab, out[-1][1] + 1)
            else:
                out.append((lab, 1))
        return out

    def cell_text(self, label: str, column: int | str) -> str:
        """Display text of the first row labelled ``label`` (coef rows win over their
        parenthesis line) in ``column`` (index or last-header label)."""
        j = column if isinstance(column, int) else self.header[-1].index(column)
        for r in self.rows:
            if r.label == label and r.kind != "section":
                return r.cells[j].text
        raise KeyError(f"table {self.key}: no row {label!r}")

    # -- Markdown
    def to_markdown(self) -> str:
        def esc(s: str) -> str:
            return s.replace("|", "\\|")
        n = self.ncols
        lines = [f"**{esc(self.title)}**", ""]
        lines.append("| " + " | ".join([esc(self.stub)] + [esc(h) for h in self.header[-1]]) + " |")
        lines.append("|" + "|".join([":---"] + [":---:"] * n) + "|")
        for h in self.header[:-1]:
            lines.append("| | " + " | ".join(esc(x) for x in h) + " |")
        for r in self.rows:
            if r.kind == "section":
                lines.append(f"| *{esc(r.label)}* |" + " |" * n)
            else:
                label = "" if r.kind == "paren" else esc(r.label)
                lines.append("| " + " | ".join([label] + [esc(c.text) for c in r.cells]) + " |")
        if self.notes:
            lines.append("")
            lines += [f"*Notes:* {esc(' '.join(self.notes))}"]
        return "\n".join(lines) + "\n"

    # -- LaTeX (booktabs)
    @staticmethod
    def _tex(s: str) -> str:
        rep = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
               "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
               "^": r"\textasciicircum{}", "×": r"$\times$", "−": "-", "≥": r"$\geq$", "≤": r"$\leq$"}
        return "".join(rep.get(ch, ch) for ch in s)

    @classmethod
    def _tex_cell(cls, s: str) -> str:
        """Numbers in math mode (a real minus sign), stars as superscripts."""
        core, marks = s.rstrip("*"), s[len(s.rstrip("*")):]
        num = core.strip("()")
        try:
            float(num.replace(",", ""))
            is_num = True
        except ValueError:
            is_num = False
        if not is_num:
            return cls._tex(s)
        inner = num.replace(",", "{,}")
        body = f"${inner}$" if not (core.startswith("(") and core.endswith(")")) else f"$({inner})$"
        return body + (f"$^{{{marks}}}$" if marks else "")

    def to_latex(self) -> str:
        n = self.ncols
        out = [r"\begin{table}[htbp]", r"\centering", rf"\caption{{{self._tex(self.title)}}}",
               rf"\label{{tab:{self.key}}}", r"\begin{tabular}{l" + "c" * n + "}", r"\toprule"]
        for i, h in enumerate(self.header):
            parts, rules, col = [self._tex(self.stub) if i == len(self.header) - 1 else ""], [], 2
            for lab, span in self._spans(h):
                parts.append(rf"\multicolumn{{{span}}}{{c}}{{{self._tex(lab)}}}" if span > 1 else self._tex(lab))
                if span > 1 and lab:
                    rules.append(rf"\cmidrule(lr){{{col}-{col + span - 1}}}")
                col += span
            out.append(" & ".join(parts) + r" \\")
            if rules and i < len(self.header) - 1:
                out.append(" ".join(rules))
        out.append(r"\midrule")
        prev = None
        for r in self.rows:
            if r.kind == "section":
                if prev is not None:
                    out.append(r"\midrule")
                out.append(rf"\multicolumn{{{n + 1}}}{{l}}{{\textit{{{self._tex(r.label)}}}}} \\")
            else:
                if prev in ("coef", "paren") and r.kind in ("fit", "effect"):
                    out.append(r"\midrule")
                out.append(" & ".join([self._tex(r.label if r.kind != "paren" else "")] +
                                      [self._tex_cell(c.text) for c in r.cells]) + r" \\")
            prev = r.kind
        out += [r"\bottomrule", r"\end{tabular}"]
        if self.notes:
            out.append(r"\par\smallskip\begin{minipage}{\linewidth}\footnotesize "
                       + self._tex("Notes: " + " ".join(self.notes)) + r"\end{minipage}")
        out.append(r"\end{table}")
        return "\n".join(out) + "\n"

    # -- HTML
    def to_html(self, standalone: bool = False, caption: bool = True) -> str:
        e = html.escape
        n = self.ncols
        out = [f'<table class="pp-table" id="{e(self.key)}-table">']
        if caption:
            out.append(f"<caption>{e(self.title)}</caption>")
        out.append("<thead>")
        for i, h in enumerate(self.header):
            stub = e(self.stub) if i == len(self.header) - 1 else ""
            cells = "".join(f'<th colspan="{s}">{e(lab)}</th>' if s > 1 else f"<th>{e(lab)}</th>"
                            for lab, s in self._spans(h))
            out.append(f'<tr><th class="stub">{stub}</th>{cells}</tr>')
        out += ["</thead>", "<tbody>"]
        prev = None
        for r in self.rows:
            if r.kind == "section":
                out.append(f'<tr class="section"><td colspan="{n + 1}">{e(r.label)}</td></tr>')
            else:
                cls = r.kind + (" sep" if prev in ("coef", "paren") and r.kind in ("fit", "effect") else "")
                label = "" if r.kind == "paren" else e(r.label)
                out.append(f'<tr class="{cls}"><td class="stub">{label}</td>'
                           + "".join(f"<td>{e(c.text)}</td>" for c in r.cells) + "</tr>")
            prev = r.kind
        out.append("</tbody>")
        if self.notes:
            out.append(f'<tfoot><tr><td colspan="{n + 1}" class="notes">Notes: {e(" ".join(self.notes))}</td></tr></tfoot>')
        out.append("</table>")
        body = "\n".join(out) + "\n"
        if not standalone:
            return body
        return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<title>{e(self.title)}</title><style>{TABLE_CSS}</style></head><body>\n{body}</body></html>\n")

    # -- CSV (full precision)
    def to_csv(self, path: str | Path) -> None:
        """One line per (row, column) cell: display text and the full-precision numbers."""
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["table", "row", "row_kind", "column", "display", "value", "se", "stat",
                        "stat_kind", "p"])
            cols = [" / ".join(x for x in dict.fromkeys(h[j] for h in self.header) if x)
                    for j in range(self.ncols)]
            section = ""
            for r in self.rows:
                if r.kind == "section":
                    section = r.label
                    continue
                label = r.label if r.kind != "paren" else f"{r.label} (parenthesis)"
                if section:
                    label = f"{section}: {label}"
                for j, c in enumerate(r.cells):
                    w.writerow([self.key, label, r.kind, cols[j], c.text, _full(c.value), _full(c.se),
                                _full(c.stat), c.stat_kind or "", _full(c.p)])

    # -- DOCX
    def to_docx(self, path: str | Path) -> None:
        from docx import Document
        from docx.enum.text import WD_ALIGN_PARAGRAPH
        from docx.shared import Pt

        doc = Document()
        style = doc.styles["Normal"]
        style.font.name, style.font.size = "Times New Roman", Pt(10)
        doc.add_paragraph().add_run(self.title).bold = True
        n = self.ncols
        nrows = len(self.header) + len(self.rows)
        t = doc.add_table(rows=nrows, cols=n + 1)
        for i, h in enumerate(self.header):
            row = t.rows[i]
            row.cells[0].text = self.stub if i == len(self.header) - 1 else ""
            col = 1
            for lab, span in self._spans(h):
                cell = row.cells[col]
                if span > 1:
                    cell = cell.merge(row.cells[col + span - 1])
                cell.text = lab
                cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.CENTER
                col += span
        for k, r in enumerate(self.rows):
            row = t.rows[len(self.header) + k]
            if r.kind == "section":
                c = row.cells[0].merge(row.cells[n])
                c.text = r.label
                c.paragraphs[0].runs[0].italic = True
                continue
            row.cells[0].text = "" if r.kind == "paren" else r.label
            for j, cell in enumerate(r.cells):
                row.cells[j + 1].text = cell.text
                row.cells[j + 1].paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.CENTER
        _booktabs_borders(t, len(self.header))
        if self.notes:
            p = doc.add_paragraph()
            run = p.add_run("Notes: " + " ".join(self.notes))
            run.font.size = Pt(8)
        doc.save(str(path))

    def write(self, directory: str | Path, formats: Iterable[str] = FORMATS) -> dict[str, Path]:
        """Write ``<directory>/<key>.<fmt>`` for each format; returns {fmt: path}."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        out: dict[str, Path] = {}
        for fmt in formats:
            if fmt not in FORMATS:
                raise TableError(f"table format {fmt!r} not in {FORMATS}")
            p = d / f"{self.key}.{fmt}"
            if fmt == "md":
                p.write_text(self.to_markdown(), encoding="utf-8")
            elif fmt == "tex":
                p.write_text(self.to_latex(), encoding="utf-8")
            elif fmt == "html":
                p.write_text(self.to_html(standalone=True), encoding="utf-8")
            elif fmt == "csv":
                self.to_csv(p)
            else:
                self.to_docx(p)
            out[fmt] = p
        return out


TABLE_CSS = """
table.pp-table{border-collapse:collapse;font:14px/1.35 Georgia,'Times New Roman',serif;margin:0.5em 0 1.5em}
table.pp-table caption{caption-side:top;text-align:left;font-weight:bold;padding-bottom:0.4em}
table.pp-table thead tr:first-child th{border-top:2px solid #222}
table.pp-table thead tr:last-child th{border-bottom:1px solid #222}
table.pp-table th,table.pp-table td{padding:2px 12px;text-align:center;white-space:nowrap}
table.pp-table .stub{text-align:left}
table.pp-table tr.paren td{color:#444;font-size:0.92em;padding-bottom:5px}
table.pp-table tr.sep td{border-top:1px solid #222}
table.pp-table tr.section td{text-align:left;font-style:italic;border-top:1px solid #999;padding-top:6px}
table.pp-table tbody tr:last-child td{border-bottom:2px solid #222}
table.pp-table td.notes{text-align:left;white-space:normal;font-size:0.85em;color:#333;max-width:60em}
"""


def _full(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (float, np.floating)):
        return "" if math.isnan(v) else repr(float(v))
    return str(v)


def _booktabs_borders(table, header_rows: int) -> None:
    """Top rule, rule under the header, bottom rule; no vertical lines."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    def border(cell, side, size):
        tcPr = cell._tc.get_or_add_tcPr()
        borders = tcPr.find(qn("w:tcBorders"))
        if borders is None:
            borders = OxmlElement("w:tcBorders")
            tcPr.append(borders)
        el = OxmlElement(f"w:{side}")
        el.set(qn("w:val"), "single")
        el.set(qn("w:sz"), str(size))
        el.set(qn("w:color"), "000000")
        borders.append(el)

    rows = table.rows
    for c in rows[0].cells:
        border(c, "top", 12)
    for c in rows[header_rows - 1].cells:
        border(c, "bottom", 6)
    for c in rows[len(rows) - 1].cells:
        border(c, "bottom", 12)


# ----------------------------------------------------------------------------- regression
@dataclass
class ModelColumn:
    """One estimated model: coefficients, SEs, statistics and p-values by term, the kind of
    statistic (z or t) and the fit statistics (``gold.estimates`` ``stats`` JSON)."""
    name: str
    params: pd.Series
    se: pd.Series
    stat: pd.Series
    p: pd.Series
    stat_kind: str
    stats: dict[str, Any] = field(default_factory=dict)
    estimator: str = ""

    @classmethod
    def from_estimates(cls, rows: pd.DataFrame, name: str | None = None) -> "ModelColumn":
        """The rows of ``gold.estimates`` of one (study, table, model)."""
        if rows.empty:
            raise TableError(f"model {name!r}: no rows in gold.estimates")
        need = {"term", "coef", "se", "stat", "stat_kind", "p", "stats"}
        miss = need - set(rows.columns)
        if miss:
            raise TableError(f"gold.estimates lacks column(s) {sorted(miss)}")
        r = rows.drop_duplicates("term", keep="last").set_index("term")
        kinds = set(r["stat_kind"].dropna())
        if len(kinds) > 1:
            raise TableError(f"model {name!r}: mixed statistic kinds {sorted(kinds)}")
        try:
            stats = json.loads(r["stats"].iloc[0]) if r["stats"].iloc[0] else {}
        except (TypeError, json.JSONDecodeError) as exc:
            raise TableError(f"model {name!r}: stats is not JSON ({exc})") from None
        f = lambda c: r[c].astype(float)  # noqa: E731
        return cls(name=name or str(rows["model"].iloc[0]), params=f("coef"), se=f("se"),
                   stat=f("stat"), p=f("p"), stat_kind=(kinds.pop() if kinds else "z"), stats=stats,
                   estimator=_estimator_name(str(rows["estimator"].iloc[0]) if "estimator" in rows else "", stats))

    @classmethod
    def from_result(cls, result: Any, name: str = "") -> "ModelColumn":
        """Any linearmodels-style result (``GMMResults``, ``EstimationResult``)."""
        from ..econ.job import model_stats
        def get(a):
            v = getattr(result, a)
            return v() if callable(v) else v
        kind = getattr(result, "stat_label", None) or ("t" if getattr(result, "small", False) else "z")
        stats = model_stats(result)
        cov = getattr(result, "cov", None)
        if isinstance(cov, pd.DataFrame):
            stats["cov"] = {"names": [str(c) for c in cov.columns], "matrix": cov.to_numpy().tolist()}
        first = (getattr(result, "extra", {}) or {}).get("first_stage")
        if first:
            stats["first_stage"] = {k: {"params": dict(v["params"]), "std_errors": dict(v["std_errors"]),
                                        "f_stat": v.get("f_stat"), "partial_r2": v.get("partial_r2")}
                                    for k, v in first.items()}
        info = get("model_info") or {}
        return cls(name=name, params=get("params").astype(float), se=get("std_errors").astype(float),
                   stat=get("tstats").astype(float), p=get("pvalues").astype(float), stat_kind=kind,
                   stats=stats, estimator=_estimator_name(str(info.get("estimator", "")), stats))

    def info(self, key: str) -> Any:
        """A fit statistic: ``stats[key]``, else ``stats['model_info'][key]``."""
        v = self.stats.get(key)
        if v is None:
            v = (self.stats.get("model_info") or {}).get(key)
        return v

    @property
    def cov(self) -> pd.DataFrame | None:
        c = self.stats.get("cov")
        if not c:
            return None
        return pd.DataFrame(np.asarray(c["matrix"], float), index=c["names"], columns=c["names"])

    def first_stage(self) -> dict[str, dict[str, Any]]:
        return self.stats.get("first_stage") or {}


def _estimator_name(raw: str, stats: Mapping[str, Any]) -> str:
    """xtabond2-style name for the GMM estimators ("system" -> "Two-step System GMM")."""
    if raw in ("system", "difference"):
        info = stats.get("model_info") or {}
        steps = "Two-step" if info.get("steps") == 2 else "One-step"
        kind = "System GMM (Blundell-Bond)" if raw == "system" else "Difference GMM (Arellano-Bond)"
        return f"{steps} {kind}"
    return raw


# key -> (label, decimals or "int")
FIT_ROWS: dict[str, tuple[str, Any]] = {
    "nobs": ("Observations", "int"),
    "n_groups": ("Groups", "int"),
    "n_instruments": ("Instruments", "int"),
    "ar1_p": ("AR(1) [p]", 3),
    "ar2_p": ("AR(2) [p]", 3),
    "sargan_p": ("Sargan [p]", 3),
    "hansen_p": ("Hansen [p]", 3),
    "r2": ("R-squared", 3),
    "r2_within": ("Within R-squared", 3),
    "first_stage_f": ("First-stage F", 2),
    "kleibergen_paap_f": ("Kleibergen-Paap rk Wald F", 2),
    "cragg_donald_f": ("Cragg-Donald Wald F", 2),
    "alpha": ("alpha (dispersion)", 3),
    "loglik": ("Log likelihood", 2),
}


@dataclass
class RegressionLayout:
    """How one paper table lays its models out (a ``report.tables.<key>`` entry).

    ``panels``: each ``{title, models: [...], terms: [...]}``; a term is a name in
    ``gold.estimates`` or ``{label, match: [names]}`` (one row for alternative names, e.g.
    ``ft`` / ``ft_granted``). ``paren``: ``stat`` (z or t as estimated) or ``se``.
    ``fit``: keys of :data:`FIT_ROWS`. ``effects``: ``[[label, model_info key or
    true/false]]`` rendered Yes/No. ``kind: iv`` gives each model a first-stage and a
    second-stage column.
    """
    key: str
    title: str
    source_table: str
    study: str
    panels: list[dict[str, Any]]
    headers: list[str] = field(default_factory=list)
    dependent: str | list[str] = ""
    paren: str = "stat"
    decimals: int = 3
    stat_decimals: int = 3
    fit: list[str] = field(default_factory=lambda: ["nobs"])
    effects: list[list[Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    kind: str = "ols"
    description: str = ""

    @classmethod
    def from_config(cls, key: str, d: Mapping[str, Any]) -> "RegressionLayout":
        d = dict(d)
        known = {"title", "source_table", "study", "panels", "headers", "dependent", "paren",
                 "decimals", "stat_decimals", "fit", "effects", "notes", "kind", "description",
                 "type", "models", "terms"}
        bad = set(d) - known
        if bad:
            raise TableError(f"report.tables.{key}: unknown key(s) {sorted(bad)}; expected {sorted(known)}")
        for k in ("title", "source_table", "study"):
            if k not in d:
                raise TableError(f"report.tables.{key}: {k!r} is required")
        panels = d.get("panels") or [{"title": "", "models": d.get("models", []), "terms": d.get("terms", [])}]
        for p in panels:
            if not p.get("models"):
                raise TableError(f"report.tables.{key}: a panel without models")
        if d.get("paren", "stat") not in ("stat", "se"):
            raise TableError(f"report.tables.{key}.paren: expected stat or se, got {d['paren']!r}")
        bad_fit = [f for f in d.get("fit", []) if f not in FIT_ROWS]
        if bad_fit:
            raise TableError(f"report.tables.{key}.fit: unknown statistic(s) {bad_fit}; expected {list(FIT_ROWS)}")
        return cls(key=key, title=d["title"], source_table=d["source_table"], study=d["study"],
                   panels=[dict(p) for p in panels], headers=list(d.get("headers", [])),
                   dependent=d.get("dependent", ""), paren=d.get("paren", "stat"),
                   decimals=int(d.get("decimals", 3)), stat_decimals=int(d.get("stat_decimals", 3)),
                   fit=list(d.get("fit", ["nobs"])), effects=[list(e) for e in d.get("effects", [])],
                   notes=list(d.get("notes", [])), kind=d.get("kind", "ols"),
                   description=str(d.get("description", "")))

    def models(self) -> list[str]:
        return [m for p in self.panels for m in p["models"]]


def term_label(term: str, labels: Mapping[str, str]) -> str:
    """Configured label, else built from the parts: ``L2.ft`` -> ``L2.FTs``, ``a:b`` ->
    ``A × B``."""
    if term in labels:
        return labels[term]
    if ":" in term:
        return " × ".join(term_label(t, labels) for t in term.split(":"))
    if "." in term:
        op, var = term.split(".", 1)
        return f"{op}.{term_label(var, labels)}"
    return term


def _term_rows(panel: Mapping[str, Any], labels) -> list[tuple[str, list[str]]]:
    out = []
    for t in panel.get("terms", []):
        if isinstance(t, Mapping):
            match = [str(x) for x in t.get("match", [])]
            out.append((str(t.get("label") or term_label(match[0], labels)), match))
        else:
            out.append((term_label(str(t), labels), [str(t)]))
    return out


def regression_table(layout: RegressionLayout, columns: Mapping[str, ModelColumn], *,
                     labels: Mapping[str, str] | None = None,
                     star_levels: Sequence[float] = (0.1, 0.05, 0.01)) -> Table:
    """The paper table ``layout`` from the estimated ``columns`` (by model name). A model
    missing from ``columns`` leaves its column empty and is named in the notes."""
    labels = dict(labels or {})
    levels = sorted(float(x) for x in star_levels)
    ncol = max(len(p["models"]) * (2 if layout.kind == "iv" else 1) for p in layout.panels)
    rows: list[Row] = []
    missing: list[str] = []
    used: list[ModelColumn] = []
    dec, sdec = layout.decimals, layout.stat_decimals

    def coef_cells(col: ModelColumn | None, names: list[str], first: bool) -> tuple[Cell, Cell]:
        if col is None:
            return Cell(), Cell()
        if first:  # first-stage column of an IV model: instrument coefficients with SEs
            fs = next(iter(col.first_stage().values()), {})
            par, ses = fs.get("params") or {}, fs.get("std_errors") or {}
            hit = next((n for n in names if n in par), None)
            if hit is None:
                return Cell(), Cell()
            b, s = float(par[hit]), float(ses[hit])
            z = b / s if s else float("nan")
            from scipy import stats as st
            g = col.info("n_groups")
            p = float(2 * (st.t.sf(abs(z), int(g) - 1) if g else st.norm.sf(abs(z))))
            kind = "t" if g else "z"
        else:
            hit = next((n for n in names if n in col.params.index), None)
            if hit is None:
                return Cell(), Cell()
            b, s, z, p, kind = (float(col.params[hit]), float(col.se[hit]), float(col.stat[hit]),
                                float(col.p[hit]), col.stat_kind)
        d1, d2 = dec, sdec
        if first and math.isfinite(b) and b != 0:
            # an instrument on its own scale (e.g. 1984 counts x a series) can have a
            # coefficient far below 10^-dec: show three significant digits instead of 0.000
            d1 = d2 = min(10, max(dec, 2 - int(math.floor(math.log10(abs(b))))))
        c1 = Cell(format_number(b, d1) + star_marks(p, levels), b, s, z, kind, p)
        second = s if layout.paren == "se" else z
        c2 = Cell("(" + format_number(second, d2 if layout.paren == "se" else sdec) + ")", second, s, z, kind, p)
        return c1, c2

    for panel in layout.panels:
        if panel.get("title"):
            rows.append(Row(panel["title"], [], "section"))
        slots: list[tuple[ModelColumn | None, bool]] = []
        for m in panel["models"]:
            col = columns.get(m)
            if col is None:
                missing.append(m)
            else:
                used.append(col)
            slots += [(col, True), (col, False)] if layout.kind == "iv" else [(col, False)]
        slots += [(None, False)] * (ncol - len(slots))
        for label, names in _term_rows(panel, labels):
            cells = [coef_cells(c, names, first) for c, first in slots]
            if not any(a.text for a, _ in cells):
                continue
            rows.append(Row(label, [a for a, _ in cells], "coef"))
            rows.append(Row(label, [b for _, b in cells], "paren"))
        for key in panel.get("fit", layout.fit):
            lab, fmt = FIT_ROWS[key]
            cells = []
            for c, first in slots:
                v = None
                if c is not None:
                    if key == "first_stage_f":   # per endogenous regressor; one here
                        fs = c.info("first_stage_f") or {}
                        v = next(iter(fs.values()), None) if (first or layout.kind != "iv") else None
                    elif layout.kind == "iv" and first:
                        v = c.info(key) if key == "nobs" else None
                    else:
                        v = c.info(key)
                txt = "" if v is None else (format_number(int(v), thousands=True) if fmt == "int"
                                            else format_number(v, fmt))
                cells.append(Cell(txt, v))
            if any(x.text for x in cells):
                rows.append(Row(lab, cells, "fit"))
        for lab, key, *rest in panel.get("effects", layout.effects):
            cells = []
            for c, _ in slots:
                if c is None:
                    cells.append(Cell())
                    continue
                v = key if isinstance(key, bool) else bool(c.info(str(key)))
                cells.append(Cell("Yes" if v else "No", bool(v)))
            rows.append(Row(str(lab), cells, "effect"))

    # header: dependent-variable row and model row
    header: list[list[str]] = []
    dep = layout.dependent
    if layout.kind == "iv":
        models = layout.panels[0]["models"]
        heads = layout.headers or [f"Model {i + 1}" for i in range(ncol)]
        stage = [("First" if j % 2 == 0 else "Second") for j in range(ncol)]
        deps = []
        for m in models:
            c = columns.get(m)
            endog = (c.info("endog") or [""])[0] if c else ""
            deps += [term_label(str(endog), labels), term_label(str(dep or (c.info("dependent") if c else "")), labels)]
        header = [deps + [""] * (ncol - len(deps)), stage, heads[:ncol]]
    else:
        if dep:
            header.append(list(dep) if isinstance(dep, list) else [dep] * ncol)
        header.append(layout.headers[:ncol] if layout.headers else [f"({i + 1})" for i in range(ncol)])

    notes = _regression_notes(layout, used, levels, missing)
    if layout.kind == "iv" and any(not c.first_stage() for c in used):
        notes.append("First-stage instrument coefficients are not stored in gold.estimates for "
                     f"{', '.join(c.name for c in used if not c.first_stage())}; their columns show the first-stage F only.")
    return Table(key=layout.key, title=layout.title, header=header, rows=rows, notes=notes,
                 description=layout.description, inputs=["gold.estimates"])


def _regression_notes(layout: RegressionLayout, used: list[ModelColumn], levels: list[float],
                      missing: list[str]) -> list[str]:
    notes: list[str] = []
    marks = ", ".join(f"{'*' * (len(levels) - i)} p < {lv:g}" for i, lv in enumerate(levels))
    if used:
        kinds = sorted({c.stat_kind for c in used})
        if layout.paren == "se":
            what = "Standard errors in parentheses"
        else:
            what = {"z": "z statistics", "t": "t statistics"}.get("/".join(kinds), "z/t statistics") + " in parentheses"
        notes.append(f"{what}; {marks}.")
        se_types = list(dict.fromkeys(str(c.stats.get("se_type") or "") for c in used if c.stats.get("se_type")))
        ests = list(dict.fromkeys(c.estimator for c in used if c.estimator))
        if ests:
            notes.append("Estimator: " + "; ".join(ests) + ".")
        if se_types:
            notes.append("Standard errors: " + "; ".join(se_types) + ".")
        seen = set(notes)
        warn: dict[str, list[str]] = {}
        for c in used:
            for n in c.stats.get("notes") or []:
                if n not in seen:
                    seen.add(n)
                    notes.append(n if n.endswith(".") else n + ".")
            for w in c.stats.get("warnings") or []:
                warn.setdefault(w, []).append(c.name)
        for w, models in warn.items():
            notes.append(f"Warning ({', '.join(dict.fromkeys(models))}): {w}" + ("" if w.endswith(".") else "."))
    notes += layout.notes
    if missing:
        notes.append(f"Not estimated in this run (absent from gold.estimates): {', '.join(missing)}.")
    return notes
