"""Named random streams: every random step of the simulator draws from
``stream(seed, name, *keys)``, a Generator seeded by ``SeedSequence(seed, spawn_key=...)``
with a stable hash of the name, so the numbers depend on (seed, name, keys) only and never
on the order of calls, on chunking or on partitioning."""
from __future__ import annotations

import zlib

import numpy as np

__all__ = ["stream"]


def stream(seed: int, name: str, *keys: int) -> np.random.Generator:
    key = (zlib.crc32(name.encode("utf-8")),) + tuple(int(k) for k in keys)
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=key))
