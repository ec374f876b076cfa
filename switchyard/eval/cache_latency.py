"""Semantic-cache lookup latency at a given index size, measured through ``SemanticCache.lookup`` itself:
embedding the question (the packaged MiniLM, one thread), searching the namespace and running the verifier and,
when given, the cross-encoder.

Stored entries are real question vectors while the pool lasts; beyond it (100k and 1M entries) they are synthetic:
unit vectors mixed from two real ones plus noise, so the index sees the same kind of geometry. The questions asked
are real texts that are not in the index, so every lookup embeds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from switchyard.cache.cross_encoder import CrossEncoder
from switchyard.cache.embed import Embedder
from switchyard.cache.semantic import SemanticCache
from switchyard.cache.verifier import PairVerifier


@dataclass(frozen=True)
class Latency:
    entries: int
    synthetic: int
    build_s: float
    p50_ms: float
    p99_ms: float
    index_p50_ms: float
    index_p99_ms: float


def fill_vectors(pool: NDArray[np.float32], size: int, seed: int = 0) -> tuple[NDArray[np.float32], int]:
    """``size`` unit vectors: the pool first, then synthetic ones; returns (vectors, how many are synthetic)."""
    real = pool[:size]
    extra = size - len(real)
    if extra <= 0:
        return np.ascontiguousarray(real), 0
    rng = np.random.default_rng(seed)
    mixed = np.empty((extra, pool.shape[1]), dtype=np.float32)
    for start in range(0, extra, 65536):
        n = min(65536, extra - start)
        a = pool[rng.integers(0, len(pool), n)]
        b = pool[rng.integers(0, len(pool), n)]
        block = a + 0.5 * b + 0.05 * rng.standard_normal(a.shape).astype(np.float32)
        mixed[start : start + n] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return np.concatenate([real, mixed]), extra


def measure(
    embedder: Embedder,
    verifier: PairVerifier | None,
    size: int,
    pool_vectors: NDArray[np.float32],
    pool_texts: Sequence[str],
    questions: Sequence[str],
    cross_encoder: CrossEncoder | None = None,
) -> Latency:
    vectors, synthetic = fill_vectors(pool_vectors, size)
    cache = SemanticCache(embedder, verifier=verifier, cross_encoder=cross_encoder, max_entries=size + 1)
    texts = [pool_texts[i % len(pool_texts)] for i in range(size)]
    started = time.perf_counter()
    cache.add_vectors("bench", texts, [str(i) for i in range(size)], vectors)
    build_s = time.perf_counter() - started
    total, index_only = asyncio.run(_timed_lookups(cache, embedder, questions))
    del cache
    return Latency(
        size, synthetic, build_s,
        _percentile(total, 50), _percentile(total, 99), _percentile(index_only, 50), _percentile(index_only, 99),
    )


async def _timed_lookups(
    cache: SemanticCache, embedder: Embedder, questions: Sequence[str]
) -> tuple[list[float], list[float]]:
    await cache.lookup("bench", "warm-up question")
    total: list[float] = []
    for text in questions:
        started = time.perf_counter()
        await cache.lookup("bench", text)
        total.append(time.perf_counter() - started)
    # Other texts than the ones just looked up: the verifier keeps the profiles of texts it has seen recently,
    # and a new question's profile is part of the cost.
    fresh = [f"{text} (once more)" for text in questions]
    vectors = await embedder.embed(fresh)
    index_only: list[float] = []
    for text, vector in zip(fresh, vectors, strict=True):
        started = time.perf_counter()
        cache.decide("bench", text, vector)
        index_only.append(time.perf_counter() - started)
    return total, index_only


def _percentile(samples: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples) * 1000.0, q)) if samples else float("nan")
