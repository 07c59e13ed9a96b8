"""Small seeded panels for tests and benchmarks of the estimators (not the simulator's DGP)."""
from __future__ import annotations

import numpy as np
import pandas as pd


def study1_like_panel(seed: int, n: int = 29, t: int = 10) -> pd.DataFrame:
    """A cluster-year panel shaped like study 1 (29 clusters x 10 years): a dynamic ``ti``
    with fixed effects, Poisson ``ip`` with 30% zeros, gamma ``nc`` and three controls."""
    rng = np.random.default_rng(seed)
    eta = rng.normal(size=n)
    ip = rng.poisson(2.0, size=(n, t)).astype(float)
    ip[rng.random((n, t)) < 0.3] = 0.0
    nc = rng.gamma(2.0, 0.5, size=(n, t))
    ed, ic, ie = (rng.normal(size=(n, t)) for _ in range(3))
    ti = np.empty((n, t))
    ti[:, 0] = 2 * eta + rng.normal(size=n)
    for s in range(1, t):
        ti[:, s] = (0.5 * ti[:, s - 1] + 0.1 * ip[:, s] + 0.2 * nc[:, s] + 0.1 * ed[:, s]
                    + eta + rng.normal(size=n))
    return pd.DataFrame({"city_code": np.repeat(np.arange(110000, 110000 + n), t),
                         "year": np.tile(np.arange(2011, 2011 + t), n),
                         "ti": ti.ravel(), "ip": ip.ravel(), "nc": nc.ravel(),
                         "ed": ed.ravel(), "ic": ic.ravel(), "ie": ie.ravel()})
