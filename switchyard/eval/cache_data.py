"""Paraphrase data for the semantic-cache evaluation (``<data>/gptcache_qqp``, see its README), its fit/report
split, and embeddings of its texts (computed once, then kept in ``.switchyard/eval-cache/``)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from switchyard.cache.embed import MiniLMEmbedder

QQP_DIR = "gptcache_qqp"
EMBED_CACHE = Path(".switchyard") / "eval-cache"


@dataclass(frozen=True)
class Pairs:
    """Question pairs: ``label`` 1 when the two ask the same thing."""

    a: list[str]
    b: list[str]
    label: NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.a)

    def subset(self, mask: NDArray[np.bool_]) -> Pairs:
        rows = np.flatnonzero(mask)
        return Pairs([self.a[i] for i in rows], [self.b[i] for i in rows], self.label[rows])


def load_qqp(data_dir: Path, limit: int | None = None) -> Pairs:
    rows = json.loads((data_dir / QQP_DIR / "qqp_pairs_dev.json").read_text())[:limit]
    return Pairs([r["text_a"] for r in rows], [r["text_b"] for r in rows], np.array([int(r["label"]) for r in rows]))


def load_mock(data_dir: Path, limit: int | None = None) -> Pairs:
    """GPTCache's mock_data.json: (origin, similar) paraphrases, all positives."""
    rows = json.loads((data_dir / QQP_DIR / "mock_data.json").read_text())[:limit]
    return Pairs([r["origin"] for r in rows], [r["similar"] for r in rows], np.ones(len(rows), dtype=np.int64))


def split_groups(pairs: Pairs, report_share: float = 0.2, seed: int = 0) -> NDArray[np.bool_]:
    """True for the pairs to report on. A question that occurs in several pairs keeps all of them on one side
    (connected components of the question graph), so the report part has no question the fit part has seen."""
    index: dict[str, int] = {}
    parent: list[int] = []

    def node(text: str) -> int:
        if text not in index:
            index[text] = len(parent)
            parent.append(len(parent))
        return index[text]

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in zip(pairs.a, pairs.b, strict=True):
        parent[find(node(a))] = find(node(b))
    roots = np.array([find(index[a]) for a in pairs.a])
    draws = np.random.default_rng(seed).random(len(parent))
    return np.asarray(draws[roots] < report_share, dtype=np.bool_)


def embed_texts(
    embedder: MiniLMEmbedder,
    texts: Sequence[str],
    progress: Callable[[int], None] | None = None,
    cache_dir: Path | None = EMBED_CACHE,
    batch: int = 64,
) -> NDArray[np.float32]:
    """Sentence vectors for ``texts`` (rows in order), reusing a cached file for the same model and texts."""
    digest = hashlib.blake2b(digest_size=12)
    digest.update(embedder.model_id.encode())
    for text in texts:
        digest.update(text.encode() + b"\0")
    path = cache_dir / f"{digest.hexdigest()}.npy" if cache_dir is not None else None
    if path is not None and path.exists():
        cached = np.load(path, allow_pickle=False)
        if progress is not None:
            progress(len(texts))
        return np.asarray(cached, dtype=np.float32)
    out = np.zeros((len(texts), embedder.dimensions), dtype=np.float32)
    # Similar lengths in one batch: padding is most of the cost otherwise.
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    for start in range(0, len(order), batch):
        rows = order[start : start + batch]
        out[rows] = embedder.encode([texts[i] for i in rows])
        if progress is not None:
            progress(len(rows))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, out)
    return out


def pair_cosines(pairs: Pairs, vectors: dict[str, NDArray[np.float32]]) -> NDArray[np.float64]:
    return np.array([float(vectors[a] @ vectors[b]) for a, b in zip(pairs.a, pairs.b, strict=True)])
