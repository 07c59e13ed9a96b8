"""Shared simulator fixtures: one small world (60k applications) built once per session."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from patentpanel.simulate.dgp import DGPSpec, build_world
from patentpanel.simulate.entities import build_entities
from patentpanel.simulate.plan import iter_plan

N_SMALL = 60_000


def make_world(cfg, records=N_SMALL, seed=7):
    spec = DGPSpec.from_config(cfg, records=records, seed=seed)
    world = build_world(spec)
    c = world.cells
    located = (c[c["region_id"] >= 0].groupby("region_id")["n_ok"].sum()
               .reindex(range(len(world.regions)), fill_value=0).to_numpy()) / len(world.years)
    return world, build_entities(spec, world.regions, located)


@pytest.fixture(scope="session")
def small(cfg):
    world, ent = make_world(cfg)
    chunks = list(iter_plan(world, ent, 1))
    plan = pd.concat([c.frame for c in chunks], ignore_index=True)
    ids = np.concatenate([c.applicants for c in chunks])
    return world, ent, plan, ids
