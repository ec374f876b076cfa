"""Prompt features from MiniLM sentence embeddings (the semantic cache's embedder), for the learned routers.

A router file with ``features.kind == "minilm"`` stores no feature arrays, only the embedder's model id: loading it
builds one :class:`~switchyard.cache.embed.MiniLMEmbedder` (once, at start-up) and every decision embeds its prompt
with it. Training and evaluation embed whole datasets, so :class:`EmbeddingCache` keeps the vectors in ``.npy``
files under a cache folder outside the repository (``$SWITCHYARD_EMBED_CACHE`` or ``~/.cache/switchyard/embeddings``),
keyed by a hash of each text: repeated experiments embed a prompt once.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from switchyard.routing.learned.features import length_feature

FloatArray = NDArray[np.float64]
KIND = "minilm"
_INSTALL = "MiniLM router features need the semantic extra: pip install 'switchyard[semantic]'"


class SyncEmbedder(Protocol):
    """What the features need: the model id and a synchronous batch ``encode`` (MiniLMEmbedder has both)."""

    @property
    def model_id(self) -> str: ...

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]: ...


def default_cache_dir() -> Path:
    configured = os.environ.get("SWITCHYARD_EMBED_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "switchyard" / "embeddings"


def load_embedder() -> SyncEmbedder:
    """The packaged MiniLM embedder; ImportError (with the install hint) when the semantic extra is missing."""
    try:
        from switchyard.cache.embed import MiniLMEmbedder

        return MiniLMEmbedder(threads=1)
    except ImportError as exc:
        raise ImportError(f"{_INSTALL} ({exc})") from exc


def _key(text: str) -> bytes:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).digest()


class EmbeddingCache:
    """Text → vector, in memory and in two ``.npy`` files per model (hashes, vectors) under ``folder``."""

    def __init__(self, folder: Path, model_id: str) -> None:
        self._hashes = folder / f"{model_id}-hashes.npy"
        self._vectors = folder / f"{model_id}-vectors.npy"
        self._rows: dict[bytes, NDArray[np.float32]] = {}
        if self._hashes.exists() and self._vectors.exists():
            hashes, vectors = np.load(self._hashes), np.load(self._vectors)
            # rows only ever append, so another process saving between the two reads leaves a valid common prefix
            rows = min(len(hashes), len(vectors))
            self._rows = {bytes(h): v for h, v in zip(hashes[:rows], vectors[:rows], strict=True)}

    def embed(self, embedder: SyncEmbedder, texts: Sequence[str], batch: int = 64) -> NDArray[np.float32]:
        keys = [_key(t) for t in texts]
        missing = list(dict.fromkeys(k for k in keys if k not in self._rows))
        if missing:
            by_key = {k: t for k, t in zip(keys, texts, strict=True)}
            for start in range(0, len(missing), batch):
                chunk = missing[start : start + batch]
                for k, v in zip(chunk, embedder.encode([by_key[c] for c in chunk]), strict=True):
                    self._rows[k] = v
            self._save()
        return np.stack([self._rows[k] for k in keys]) if keys else np.zeros((0, 0), dtype=np.float32)

    def _save(self) -> None:
        self._hashes.parent.mkdir(parents=True, exist_ok=True)
        # vectors first, each file replaced atomically: a concurrent reader never sees a torn file
        for path, array in (
            (self._vectors, np.stack(list(self._rows.values()))),
            (self._hashes, np.array(list(self._rows), dtype="S20")),
        ):
            partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            with partial.open("wb") as handle:
                np.save(handle, array)
            os.replace(partial, path)


@dataclass
class MiniLMFeatures:
    """L2-normalised MiniLM vectors (384 dims), plus log length when ``length_feature`` (not for kNN: cosine)."""

    embedder: SyncEmbedder
    length_feature: bool = True
    cache: EmbeddingCache | None = field(default=None, repr=False)  # offline only: never on the request path

    @property
    def dim(self) -> int:
        return 384 + (1 if self.length_feature else 0)

    def transform(self, texts: list[str]) -> FloatArray:
        if self.cache is not None:
            vectors = self.cache.embed(self.embedder, texts)
        else:
            vectors = self.embedder.encode(texts)
        out = np.asarray(vectors, dtype=np.float64).reshape(len(texts), -1)
        if self.length_feature:
            out = np.hstack([out, np.array([[length_feature(t)] for t in texts]).reshape(len(texts), 1)])
        return out

    def arrays(self, prefix: str = "features") -> dict[str, NDArray[np.generic]]:
        return {}  # the model ships with the semantic extra; the file records only which one

    def meta(self) -> dict[str, object]:
        return {"kind": KIND, "model_id": self.embedder.model_id, "length_feature": self.length_feature}

    @classmethod
    def from_meta(cls, meta: dict[str, object], embedder: SyncEmbedder | None = None) -> MiniLMFeatures:
        model = embedder if embedder is not None else load_embedder()
        if meta.get("model_id") != model.model_id:
            raise ValueError(f"router file was trained on embeddings of {meta.get('model_id')}, not {model.model_id}")
        return cls(model, bool(meta.get("length_feature", True)))


def training_features(
    length: bool, embedder: SyncEmbedder | None = None, cache_dir: Path | None = None
) -> MiniLMFeatures:
    """Features for offline training: an embedder plus the on-disk cache (loading both takes well under a second,
    so each fit builds its own rather than sharing process-wide state)."""
    model = embedder if embedder is not None else load_embedder()
    return MiniLMFeatures(model, length, EmbeddingCache(cache_dir or default_cache_dir(), model.model_id))
