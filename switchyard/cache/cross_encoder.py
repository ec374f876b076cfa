"""The semantic cache's last stage: a cross-encoder reads the new question and the stored one together.

The bi-encoder (``embed``) compresses each question alone into one vector, so "how do I open X" and "how do I close
X" land close; the pair verifier (``verifier``) sees surface features of both. A cross-encoder attends across the
two word-piece sequences at once, which is what separates such pairs. It is all-MiniLM-L6-v2 fine-tuned on the fit
part of the QQP pairs (``bench/train_cross_encoder.py``, torch, offline), exported to ONNX and quantised to int8;
here it runs with onnxruntime only. It costs a few milliseconds per pair, so the cache runs it on the single best
candidate and only when the pair verifier already finds that candidate plausible (``gate``).

The stage is optional: the composition root uses it only when ``cross_encoder.onnx`` sits beside this module, and
none is packaged yet (the one trained so far did not beat the verifier; docs/caching.md has the numbers).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

MODEL_PATH = Path(__file__).with_name("cross_encoder.onnx")
# Both questions together; QQP questions are short, and a cap keeps a pathological prompt cheap.
MAX_TOKENS = 96
BATCH = 64


class CrossEncoder:
    """Probability that two questions ask the same thing; ``threshold`` is the operating point tuned offline (on
    fit pairs the network never trained on), ``gate`` the verifier score below which a candidate is not worth
    the forward pass, ``metrics`` the training run's own measurements."""

    def __init__(self, path: Path = MODEL_PATH, *, threads: int = 1) -> None:
        import onnxruntime as ort  # type: ignore[import-untyped]
        from tokenizers import BertWordPieceTokenizer

        from switchyard.cache.embed import VOCAB_PATH

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._tokenizer = BertWordPieceTokenizer(str(VOCAB_PATH), lowercase=True)
        self._tokenizer.enable_truncation(max_length=MAX_TOKENS)
        meta_path = path.with_suffix(".json")
        meta: dict[str, Any] = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
        self.threshold = float(meta.get("threshold", 0.5))
        self.gate = float(meta.get("gate", 0.0))
        # Logistic stacking fitted offline: intercept, weight of the verifier's log-odds, weight of this model's.
        self.stack = tuple(float(w) for w in meta.get("stack", (0.0, 0.0, 1.0)))
        self.metrics = {k: float(v) for k, v in meta.items() if isinstance(v, int | float)}

    def score(
        self, pairs: Sequence[tuple[str, str]], verifier_scores: NDArray[np.float64] | None = None
    ) -> NDArray[np.float64]:
        """One probability in [0, 1] per (stored question, new question) pair; with the verifier's scores for the
        same pairs, the stacked probability the cache decides on (``threshold`` applies to that one)."""
        logits = self.logits(pairs)
        if verifier_scores is not None:
            clipped = np.clip(np.asarray(verifier_scores, dtype=np.float64), 1e-4, 1 - 1e-4)
            logits = self.stack[0] + self.stack[1] * np.log(clipped / (1 - clipped)) + self.stack[2] * logits
        result: NDArray[np.float64] = 1.0 / (1.0 + np.exp(-logits))
        return result

    def logits(self, pairs: Sequence[tuple[str, str]]) -> NDArray[np.float64]:
        """The network's raw log-odds, one per pair."""
        out = [self._batch(pairs[s : s + BATCH]) for s in range(0, len(pairs), BATCH)]
        return np.concatenate(out) if out else np.zeros(0)

    def _batch(self, pairs: Sequence[tuple[str, str]]) -> NDArray[np.float64]:
        encoded = self._tokenizer.encode_batch(list(pairs))
        width = max(len(e.ids) for e in encoded)
        ids = np.zeros((len(encoded), width), dtype=np.int64)
        types = np.zeros_like(ids)
        mask = np.zeros_like(ids)
        for i, e in enumerate(encoded):
            ids[i, : len(e.ids)] = e.ids
            types[i, : len(e.ids)] = e.type_ids
            mask[i, : len(e.ids)] = 1
        feeds = {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}
        (logit,) = self._session.run(["logit"], feeds)
        return np.asarray(logit, dtype=np.float64).reshape(-1)
