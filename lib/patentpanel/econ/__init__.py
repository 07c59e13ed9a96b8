"""Econometric estimators (pure numpy/scipy/pandas). Import submodules explicitly, e.g.
``from patentpanel.econ.gmm import SystemGMM``; nothing heavy is imported here."""
