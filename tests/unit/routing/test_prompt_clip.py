"""MiniLM routers embed a clipped prompt: its first and last word pieces. Needs the semantic extra's tokenizer."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

pytest.importorskip("tokenizers")

from tokenizers import BertWordPieceTokenizer  # noqa: E402

from switchyard.cache.embed import VOCAB_PATH  # noqa: E402
from switchyard.routing.learned.embed_features import (  # noqa: E402
    ROUTER_HEAD_TOKENS,
    ROUTER_TAIL_TOKENS,
    MiniLMFeatures,
    PromptClipper,
    training_features,
)

TOKENIZER = BertWordPieceTokenizer(str(VOCAB_PATH), lowercase=True)


def pieces(text: str) -> list[str]:
    return list(TOKENIZER.encode(text, add_special_tokens=False).tokens)


class Recording:
    """A stand-in embedder: records the texts it is given, returns one fixed unit vector per text."""

    model_id = "fake-model"

    def __init__(self) -> None:
        self.seen: list[str] = []

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        self.seen.extend(texts)
        out = np.zeros((len(texts), 384), dtype=np.float32)
        out[:, 0] = 1.0
        return out


def test_short_prompts_pass_unchanged() -> None:
    clip = PromptClipper(4, 2)
    for text in ("", " ", "one two three", "Which of these is a prime? A. 4 B. 6"[:20]):
        if len(pieces(text)) <= 6:
            assert clip(text) == text


def test_a_long_prompt_keeps_its_first_and_last_word_pieces() -> None:
    words = [f"w{i}" for i in range(400)]  # "w12" is two pieces: "w" and "##12"
    text = " ".join(words) + "\nA. alpha\nB. beta\nAnswer:"
    clipped = PromptClipper(10, 6)(text)
    assert pieces(clipped) == pieces(text)[:10] + pieces(text)[-6:]
    assert clipped.startswith("w0 w1 w2 w3 w4") and clipped.endswith("B. beta\nAnswer:")


def test_a_huge_prompt_is_clipped_from_its_ends_only() -> None:
    text = "start here " + "filler words again " * 50_000 + "the very end"
    clipped = PromptClipper(ROUTER_HEAD_TOKENS, ROUTER_TAIL_TOKENS)(text)
    assert len(pieces(clipped)) == ROUTER_HEAD_TOKENS + ROUTER_TAIL_TOKENS
    assert clipped.startswith("start here filler") and clipped.endswith("again the very end")
    # one unbroken word far longer than a window: still returns, and never more pieces than asked for
    blob = "x" * 20_000 + " tail words"
    assert len(pieces(PromptClipper(8, 4)(blob))) <= 12


def test_no_tail_keeps_only_the_head() -> None:
    text = " ".join(f"word{i}" for i in range(200))
    assert pieces(PromptClipper(7, 0)(text)) == pieces(text)[:7]


def test_bad_clip_sizes_are_refused() -> None:
    with pytest.raises(ValueError):
        PromptClipper(0, 5)


def test_features_embed_the_clipped_prompt_and_measure_the_whole_one(tmp_path: Path) -> None:
    embedder = Recording()
    features = training_features(True, embedder, tmp_path, head=5, tail=3)
    text = " ".join(f"term{i}" for i in range(300))
    x = features.transform([text, "short"])
    assert pieces(embedder.seen[0]) == pieces(text)[:5] + pieces(text)[-3:] and embedder.seen[1] == "short"
    assert x.shape == (2, 385) and x[0, -1] > x[1, -1]  # the log length of the whole prompt, not the clip
    # the cache files name the clip, so vectors of another clip (or of whole prompts) are never reused
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fake-model-h5t3-hashes.npy", "fake-model-h5t3-vectors.npy"]


def test_the_clip_is_recorded_in_the_file_meta_and_restored() -> None:
    embedder = Recording()
    features = MiniLMFeatures(embedder, True, head_tokens=40, tail_tokens=22)
    meta = features.meta()
    assert (meta["head_tokens"], meta["tail_tokens"]) == (40, 22)
    restored = MiniLMFeatures.from_meta(meta, embedder)
    assert (restored.head_tokens, restored.tail_tokens) == (40, 22)
    # a file from before clipping has no such keys: it embeds whole prompts, as it was trained
    old = MiniLMFeatures.from_meta({"kind": "minilm", "model_id": "fake-model", "length_feature": True}, embedder)
    assert old.head_tokens == 0 and "head_tokens" not in old.meta()
    long = " ".join(f"term{i}" for i in range(300))
    old.transform([long])
    assert embedder.seen[-1] == long
