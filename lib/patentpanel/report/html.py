"""reports/index.html: every table and figure of the run with a short text of what it shows,
links to each file and its lineage sidecar, the simulator's planted values beside the
estimates when the run is on simulated data, and the run's lineage. One self-contained
file (inline CSS, no scripts); figures are linked PNGs beside it.
"""
from __future__ import annotations

import html as _html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from .tables import TABLE_CSS, Table

__all__ = ["Artefact", "render_index"]

e = _html.escape
LONG_TABLE = 40   # rows; longer tables are folded (<details>) on the page


@dataclass
class Artefact:
    """One table or figure of the report (``status`` ok / unavailable / failed)."""
    key: str
    kind: str                     # table | figure
    study: str                    # study1 | study2 | simulation
    title: str
    description: str = ""
    files: dict[str, Path] = field(default_factory=dict)
    lineage_file: Path | None = None
    inputs: list[str] = field(default_factory=list)
    status: str = "ok"
    reason: str = ""
    table: Table | None = None
    extra: dict[str, Any] = field(default_factory=dict)


PAGE_CSS = """
body{font:15px/1.5 -apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;color:#1d2329;margin:0;background:#f6f7f9}
main{max-width:1180px;margin:0 auto;padding:24px 28px 60px;background:#fff}
h1{font-size:1.6em;margin:0.2em 0}
h2{font-size:1.3em;border-bottom:2px solid #1f4e79;padding-bottom:4px;margin-top:2em}
h3{font-size:1.05em;margin:1.6em 0 0.3em}
p.desc{margin:0.2em 0 0.5em;color:#333;max-width:60em}
nav.toc{background:#eef2f6;padding:10px 16px;border-radius:6px;font-size:0.92em}
nav.toc a{margin-right:0.9em;white-space:nowrap}
.files{font-size:0.85em;color:#555;margin-bottom:0.5em}
.files a{margin-right:0.7em}
.card{margin-bottom:2.2em;overflow-x:auto}
img.fig{max-width:100%;height:auto;border:1px solid #e3e6ea}
.missing{color:#8a4b00;background:#fff6e5;padding:6px 10px;border-left:3px solid #d9822b;font-size:0.9em}
table.meta{border-collapse:collapse;font-size:0.85em}
table.meta td,table.meta th{border-bottom:1px solid #e1e4e8;padding:3px 10px;text-align:left;vertical-align:top}
code{font-size:0.9em;background:#f1f3f5;padding:0 3px;border-radius:3px}
details summary{cursor:pointer;color:#1f4e79;margin:0.3em 0}
.ok{color:#2e7d32;font-weight:bold}.flag{color:#c0392b;font-weight:bold}
"""


def _rel(p: Path, base: Path) -> str:
    try:
        return Path(p).resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return Path(p).as_posix()


def _card(a: Artefact, base: Path) -> str:
    out = [f'<section class="card" id="{e(a.key)}"><h3>{e(a.title)}</h3>']
    if a.description:
        out.append(f'<p class="desc">{e(a.description)}</p>')
    if a.status != "ok":
        out.append(f'<p class="missing">Not available in this run: {e(a.reason)}</p></section>')
        return "\n".join(out)
    links = [f'<a href="{e(_rel(p, base))}">{e(fmt.upper())}</a>' for fmt, p in a.files.items()]
    if a.lineage_file is not None:
        links.append(f'<a href="{e(_rel(a.lineage_file, base))}">lineage</a>')
    inputs = ", ".join(f"<code>{e(i)}</code>" for i in a.inputs)
    out.append(f'<div class="files">Files: {" ".join(links)} &middot; inputs: {inputs}</div>')
    if a.kind == "table" and a.table is not None:
        body = a.table.to_html(caption=False)
        n = sum(r.kind != "paren" for r in a.table.rows)
        if n > LONG_TABLE:
            body = f"<details><summary>Show all {n} rows</summary>\n{body}</details>"
        out.append(body)
    elif a.kind == "figure" and "png" in a.files:
        out.append(f'<img class="fig" src="{e(_rel(a.files["png"], base))}" alt="{e(a.title)}">')
    for note in a.extra.get("notes", []):
        out.append(f'<p class="desc"><small>{e(note)}</small></p>')
    out.append("</section>")
    return "\n".join(out)


def _short(title: str) -> str:
    """Navigation label: 'Table 4', 'Fig 2', 'Supp. A', else the title up to its colon."""
    if title.startswith(("Table", "Fig")):
        return title.split(".")[0]
    if title.startswith("Supplementary Table"):
        return "Supp. " + title.split(".")[0].split()[-1]
    head, _, rest = title.partition(":")
    if head.startswith("Coefficient plot") and rest:
        head = "Plot: " + rest.strip().removeprefix("the ")
    return head if len(head) <= 28 else head[:26].rstrip() + "…"


def _lineage_html(run: dict[str, Any]) -> str:
    rows = []
    for name, v in run.get("inputs", {}).items():
        rows.append(f"<tr><td><code>{e(name)}</code></td><td>{v['version']}</td><td>{e(str(v.get('timestamp') or ''))}</td>"
                    f"<td>{e(str(v.get('operation') or ''))}</td><td>{e(str(v.get('stage') or ''))}</td>"
                    f"<td><code>{e(str(v.get('config') or ''))}</code></td><td>{e(str(v.get('seed') if v.get('seed') is not None else ''))}</td></tr>")
    for name, why in run.get("inputs_missing", {}).items():
        rows.append(f"<tr><td><code>{e(name)}</code></td><td colspan=\"6\" class=\"flag\">missing: {e(why)}</td></tr>")
    seeds = ", ".join(f"{e(str(k))} = {e(str(v))}" for k, v in run.get("seeds", {}).items())
    return (f"<p>Package <code>patentpanel {e(run['package_version'])}</code>; configuration fingerprint "
            f"<code>{e(run['config_fingerprint'])}</code>; lake <code>{e(str(run['lake_root']))}</code> "
            f"({e(str(run.get('storage_engine')))}); report created {e(run['created'])}.</p>"
            f"<p>Seeds: {seeds}.</p>"
            "<p>Every artefact was built from the table versions below (read by time travel, so later writes "
            "do not change it); re-create one with <code>store.read(name, version=v)</code> and the same "
            "configuration. Each artefact's own record is its <code>*.lineage.json</code>.</p>"
            "<table class=\"meta\"><thead><tr><th>table</th><th>version</th><th>committed (UTC)</th><th>operation</th>"
            "<th>stage</th><th>config of the writer</th><th>seed</th></tr></thead><tbody>"
            + "\n".join(rows) + "</tbody></table>")


def render_index(artefacts: Sequence[Artefact], run: dict[str, Any], base: Path, *,
                 truth: Artefact | None = None, truth_text: Sequence[str] = (),
                 title: str = "patentpanel report") -> str:
    """The page. ``base`` is the directory index.html is written to (links are relative)."""
    sections = [("study1", "Study 1: industry policies and innovation in AI clusters (Wang et al. 2025)"),
                ("study2", "Study 2: the three-tier AI technology stack and urban innovation (120 cities)")]
    ok = sum(a.status == "ok" for a in artefacts)
    toc = ['<nav class="toc">']
    if truth is not None:
        toc.append('<a href="#simulation">Simulation check</a>')
    for key, head in sections:
        toc.append(f'<b>{e(head.split(":")[0])}:</b> ' + " ".join(
            f'<a href="#{e(a.key)}">{e(_short(a.title))}</a>' for a in artefacts if a.study == key))
    toc.append('<a href="#lineage">Lineage</a></nav>')
    body = [f"<h1>{e(title)}</h1>",
            f"<p>{ok} of {len(artefacts)} tables and figures produced. Tables come in Markdown, LaTeX, HTML, "
            "CSV (full precision) and Word; figures in PNG and SVG.</p>", "\n".join(toc)]
    if truth is not None:
        body.append('<h2 id="simulation">Simulated data: planted values beside the estimates</h2>')
        for t in truth_text:
            body.append(f'<p class="desc">{e(t)}</p>')
        body.append(_card(truth, base))
    for key, head in sections:
        body.append(f'<h2 id="{key}">{e(head)}</h2>')
        for a in artefacts:
            if a.study == key:
                body.append(_card(a, base))
    exports = sorted(p for p in (Path(base) / "network").glob("*") if p.is_file()) \
        if (Path(base) / "network").is_dir() else []
    if exports:
        body.append('<h2 id="exports">Network exports</h2>')
        body.append('<p class="desc">The interregional collaboration network of the window, for Gephi or '
                    'other graph tools: ' + " ".join(f'<a href="{e(_rel(p, base))}">{e(p.name)}</a>'
                                                      for p in exports) + "</p>")
    body.append('<h2 id="lineage">Lineage of this run</h2>')
    body.append(_lineage_html(run))
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{e(title)}</title>\n<style>{PAGE_CSS}{TABLE_CSS}</style>\n</head>\n<body><main>\n"
            + "\n".join(body) + "\n</main></body>\n</html>\n")
