"""Prompt features from MiniLM sentence embeddings (the semantic cache's embedder), for the learned routers.

A router file with ``features.kind == "minilm"`` stores no feature arrays, only the embedder's model id: loading it
builds one :class:`~switchyard.cache.embed.MiniLMEmbedder` (once, at start-up) and every decision embeds its prompt
with it. Training and evaluation embed whole datasets, so :class:`EmbeddingCache` keeps the vectors in ``.npy``
files under a cache folder outside the repository (``$SWITCHYARD_EMBED_CACHE`` or ``~/.cache/switchyard/embeddings``),
keyed by a hash of each text: repeated experiments embed a prompt once.

Routers embed a clipped prompt (:class:`PromptClipper`): its first and last word pieces, 62 in all. The forward
pass grows with the word pieces, so that keeps a router's decision near half the cost of the embedder's 128-piece
limit, and the tail keeps what the head alone loses (MMLU's answer options close the prompt).
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
# head + tail = 62 word pieces, 64 with [CLS] and [SEP]; chosen on MMLU CV against 62 + 0, 46 + 0 and 30 + 16
ROUTER_HEAD_TOKENS = 40
ROUTER_TAIL_TOKENS = 22
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


class PromptClipper:
    """The first ``head`` and last ``tail`` word pieces of a text, joined by a space; shorter texts pass unchanged.

    Only windows at the two ends are tokenized (doubling until they hold enough whole words), so a long prompt costs
    about what a short one does: tokenizing runs at roughly a microsecond per character.
    """

    def __init__(self, head: int, tail: int) -> None:
        from tokenizers import BertWordPieceTokenizer

        from switchyard.cache.embed import VOCAB_PATH

        if head < 1 or tail < 0:
            raise ValueError(f"clip needs head >= 1 and tail >= 0 word pieces, not {head} and {tail}")
        self.head, self.tail = head, tail
        self._tokenizer = BertWordPieceTokenizer(str(VOCAB_PATH), lowercase=True)

    def __call__(self, text: str) -> str:
        keep, window = self.head + self.tail, 8 * (self.head + self.tail)
        while True:
            pieces = self._tokenizer.encode(text[:window], add_special_tokens=False)
            if window >= len(text):  # the whole text: short enough, or cut both ends from this one tokenization
                if len(pieces.ids) <= keep:
                    return text
                head_end = pieces.offsets[self.head - 1][1]
                tail_start = pieces.offsets[len(pieces.ids) - self.tail][0] if self.tail else len(text)
                return text[:head_end] + (" " + text[tail_start:] if self.tail else "")
            words = pieces.word_ids  # the window's last word may be cut short: the head must end before it
            if len(pieces.ids) > self.head and words[self.head - 1] != words[-1]:
                break
            window *= 2
        head_end = pieces.offsets[self.head - 1][1]
        return text[:head_end] + (" " + text[self._tail_start(text, head_end) :] if self.tail else "")

    def _tail_start(self, text: str, head_end: int) -> int:
        window = 8 * self.tail
        while True:
            start = max(head_end, len(text) - window)
            pieces = self._tokenizer.encode(text[start:], add_special_tokens=False)
            first = max(len(pieces.ids) - self.tail, 0)
            if start == head_end:  # everything after the head fits the tail (or nearly): keep it from a piece
                return start + (int(pieces.offsets[first][0]) if pieces.ids else 0)
            if len(pieces.ids) > self.tail and pieces.word_ids[first] != pieces.word_ids[0]:
                return start + int(pieces.offsets[first][0])  # the window's first word may be cut: not part of the tail
            window *= 2


@dataclass
class MiniLMFeatures:
    """L2-normalised MiniLM vectors (384 dims), plus log length when ``length_feature`` (not for kNN: cosine).

    ``head_tokens`` > 0 embeds the clipped prompt (:class:`PromptClipper`); 0 (files from before clipping) embeds
    it whole, up to the embedder's own limit. The log length is always the whole prompt's.
    """

    embedder: SyncEmbedder
    length_feature: bool = True
    cache: EmbeddingCache | None = field(default=None, repr=False)  # offline only: never on the request path
    head_tokens: int = 0
    tail_tokens: int = 0

    def __post_init__(self) -> None:
        self._clip = PromptClipper(self.head_tokens, self.tail_tokens) if self.head_tokens else None

    @property
    def dim(self) -> int:
        return 384 + (1 if self.length_feature else 0)

    def transform(self, texts: list[str]) -> FloatArray:
        clipped = [self._clip(t) for t in texts] if self._clip is not None else texts
        if self.cache is not None:
            vectors = self.cache.embed(self.embedder, clipped)
        else:
            vectors = self.embedder.encode(clipped)
        out = np.asarray(vectors, dtype=np.float64).reshape(len(texts), -1)
        if self.length_feature:
            out = np.hstack([out, np.array([[length_feature(t)] for t in texts]).reshape(len(texts), 1)])
        return out

    def arrays(self, prefix: str = "features") -> dict[str, NDArray[np.generic]]:
        return {}  # the model ships with the semantic extra; the file records only which one

    def meta(self) -> dict[str, object]:
        meta: dict[str, object] = {"kind": KIND, "model_id": self.embedder.model_id}
        if self.head_tokens:
            meta.update(head_tokens=self.head_tokens, tail_tokens=self.tail_tokens)
        return {**meta, "length_feature": self.length_feature}

    @classmethod
    def from_meta(cls, meta: dict[str, object], embedder: SyncEmbedder | None = None) -> MiniLMFeatures:
        model = embedder if embedder is not None else load_embedder()
        if meta.get("model_id") != model.model_id:
            raise ValueError(f"router file was trained on embeddings of {meta.get('model_id')}, not {model.model_id}")
        head, tail = int(meta.get("head_tokens", 0)), int(meta.get("tail_tokens", 0))  # type: ignore[call-overload]
        return cls(model, bool(meta.get("length_feature", True)), head_tokens=head, tail_tokens=tail)


def cache_id(model_id: str, head: int, tail: int) -> str:
    """The cache files' name: clipped prompts are other texts, but naming the clip keeps each file to one setting."""
    return f"{model_id}-h{head}t{tail}" if head else model_id


def training_features(
    length: bool,
    embedder: SyncEmbedder | None = None,
    cache_dir: Path | None = None,
    head: int = ROUTER_HEAD_TOKENS,
    tail: int = ROUTER_TAIL_TOKENS,
) -> MiniLMFeatures:
    """Features for offline training: an embedder plus the on-disk cache (loading both takes well under a second,
    so each fit builds its own rather than sharing process-wide state). ``head`` = 0 embeds whole prompts."""
    model = embedder if embedder is not None else load_embedder()
    cache = EmbeddingCache(cache_dir or default_cache_dir(), cache_id(model.model_id, head, tail))
    return MiniLMFeatures(model, length, cache, head_tokens=head, tail_tokens=tail if head else 0)
