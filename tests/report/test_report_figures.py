"""Figures are valid PNG/SVG with the expected elements; the delta-method band against the
hand formula."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from patentpanel.report import figures as F

from report_fixtures import cluster_year, gazetteer, network_frames


def _check(files, *texts):
    png = next(p for p in files if p.suffix == ".png")
    svg = next(p for p in files if p.suffix == ".svg")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image
    w, h = Image.open(png).size
    assert w > 400 and h > 250
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    body = svg.read_text(encoding="utf-8")
    for t in texts:
        assert t in body, t
    return body


def test_delta_method_band_matches_hand_formula():
    V = np.array([[0.04, 0.01, -0.005], [0.01, 0.09, 0.002], [-0.005, 0.002, 0.0225]])
    dz = np.array([-0.5, 0.0, 0.8])
    G = np.column_stack([np.ones(3), np.zeros(3), dz])
    hw = F.delta_method_band(G, V, 1.96)
    hand = 1.96 * np.sqrt(V[0, 0] + dz ** 2 * V[2, 2] + 2 * dz * V[0, 2])
    np.testing.assert_allclose(hw, hand, rtol=1e-14)


def test_moderation_plot(tmp_path, cfg):
    d = cluster_year(cfg, 5)
    names = ["ip", "nc", "ip_x_nc"]
    cov = pd.DataFrame([[4e-4, 1e-5, -2e-5], [1e-5, 9e-4, 0], [-2e-5, 0, 2.5e-4]], index=names, columns=names)
    files = F.moderation_plot(pd.Series([0.065, -0.099, -0.061], index=names), cov, d, tmp_path / "fig4")
    _check(files, "Simple slopes", "low NC (mean - 1 SD)", "95% CI (delta method)")
    with pytest.raises(F.FigureError, match="term .nc. not among"):
        F.moderation_plot(pd.Series([0.1], index=["ip"]), cov, d, tmp_path / "bad")


def test_network_lq_threshold_figures(tmp_path, cfg):
    net = network_frames(cfg)
    g = gazetteer(cfg)
    names = dict(zip(g["adcode"], g["name_en"]))
    lq = net["gold.region_lq"]
    body = _check(F.lq_bars(lq, names, tmp_path / "fig2"), "Location quotient")
    top = lq.sort_values("lq", ascending=False).iloc[0]
    assert names[top["city_code"]] in body
    cl = net["gold.clusters"]
    codes = cl.loc[cl["is_cluster"], "city_code"].tolist()
    body = _check(F.network_map(net["gold.region_edges"], codes, g, tmp_path / "fig3", years=(2011, 2020)),
                  "AI cluster", "Longitude")
    assert names[codes[0]] in body
    _check(F.threshold_plot(net["gold.threshold_sensitivity"], lq, names, tmp_path / "fig5", main_percentile=80),
           "threshold", "Percentile of AI applications")
    with pytest.raises(F.FigureError, match="no interregional collaboration touches a cluster"):
        F.network_map(net["gold.region_edges"], ["999999"], g, tmp_path / "none")


def test_placebo_and_coefficient_plot(tmp_path):
    rng = np.random.default_rng(1)
    draws = rng.normal(0.002, 0.01, 300)
    from scipy import stats
    x = np.linspace(-0.04, 0.05, 128)
    s = {"real_coef": 0.037, "mean": float(draws.mean()), "p_two_sided": 0.003, "scheme": "within_year",
         "density_x": list(x), "density": list(stats.gaussian_kde(draws)(x))}
    _check(F.placebo_density(s, draws, tmp_path / "fig6"), "real coefficient = 0.037", "Density")
    with pytest.raises(F.FigureError, match="no real coefficient"):
        F.placebo_density({**s, "real_coef": None}, draws, tmp_path / "bad")
    pts = [F.CoefPoint("FTs", "alone", 0.855, 0.8, 0.91), F.CoefPoint("FTs", "jointly", 0.489, 0.37, 0.6),
           F.CoefPoint("CTs", "alone", 0.766, 0.65, 0.88)]
    files = F.coefficient_plot(pts, tmp_path / "coef", title="Tiers", formats=["svg"])
    assert [p.suffix for p in files] == [".svg"]
    assert "jointly" in files[0].read_text(encoding="utf-8")
    # same input, same bytes (fixed hash salt, no date)
    again = F.coefficient_plot(pts, tmp_path / "coef2", title="Tiers", formats=["svg"])
    assert files[0].read_bytes() == again[0].read_bytes()
