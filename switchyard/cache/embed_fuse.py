"""Rewrites of the MiniLM graph into onnxruntime's fused CPU kernels, before it is quantised.

The packaged graph was exported op by op: each layer's attention is about thirty small nodes (reshapes,
transposes, a mask built with Where and IsNaN, two products and a softmax) and each GELU five. onnxruntime does
not recognise this export's attention pattern, so it runs them one by one, and on a short question the per-node
cost is a large part of the forward pass. Each attention becomes one ``MultiHeadAttention`` and each GELU one
``Gelu`` (com.microsoft contrib ops, same arithmetic: sentence vectors of the fp32 graph agree to 1e-6). A graph
that does not have the expected shape is left as it is.
"""

from __future__ import annotations

import math
import re
from typing import Any

_BIAS = re.compile(r"encoder\.layer\.(\d+)\.attention\.(self\.query|self\.key|self\.value|output\.dense)\.bias$")
_MASK = "switchyard_mask_i32"
HEADS = 12


def fuse(model: Any) -> bool:
    """Rewrite ``model`` (an onnx ModelProto) in place; False when its attention did not match the pattern."""
    from onnx import TensorProto, helper

    graph = model.graph
    producers = {out: node for node in graph.node for out in node.output}
    layers: dict[str, dict[str, Any]] = {}
    for node in graph.node:
        for name in node.input:
            match = _BIAS.search(name)
            if node.op_type == "Add" and match:
                layers.setdefault(match.group(1), {})[match.group(2)] = node
    if not layers or any(len(parts) != 4 for parts in layers.values()):
        return False
    if "attention_mask" not in {i.name for i in graph.input}:
        return False
    contexts = []  # the node that reshapes each attention's heads back to (batch, sequence, hidden)
    for parts in layers.values():
        dense = producers.get(parts["output.dense"].input[0])
        context = producers.get(dense.input[0]) if dense is not None and dense.op_type == "MatMul" else None
        if context is None:
            return False
        contexts.append((parts, context))
    for parts, context in contexts:
        position = list(graph.node).index(context)
        attention = helper.make_node(
            "MultiHeadAttention",
            [parts["self.query"].output[0], parts["self.key"].output[0], parts["self.value"].output[0], "", _MASK],
            [context.output[0]],
            name=f"switchyard_attention_{context.output[0]}",
            domain="com.microsoft",
            num_heads=HEADS,
        )
        graph.node.insert(position, attention)
        graph.node.remove(context)
    graph.node.insert(0, helper.make_node("Cast", ["attention_mask"], [_MASK], to=TensorProto.INT32))
    _fuse_gelu(graph)
    _drop_dead_nodes(graph)
    if not any(opset.domain == "com.microsoft" for opset in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return True


def _fuse_gelu(graph: Any) -> None:
    """x * 0.5 * (1 + erf(x / sqrt 2)), exported as Div → Erf → Add → Mul → Mul, becomes Gelu(x)."""
    from onnx import helper, numpy_helper

    constants = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    producers = {out: node for node in graph.node for out in node.output}

    def is_constant(name: str, value: float) -> bool:
        array = constants.get(name)
        return array is not None and array.size == 1 and math.isclose(float(array.ravel()[0]), value, rel_tol=1e-6)

    def only_user(node: Any, op: str, constant: float) -> Any:
        users = consumers.get(node.output[0], [])
        if len(users) != 1 or users[0].op_type != op:
            return None
        others = [name for name in users[0].input if name != node.output[0]]
        return users[0] if len(others) == 1 and is_constant(others[0], constant) else None

    for erf in [node for node in graph.node if node.op_type == "Erf"]:
        div = producers.get(erf.input[0])
        if div is None or div.op_type != "Div" or not is_constant(div.input[1], math.sqrt(2.0)):
            continue
        add = only_user(erf, "Add", 1.0)
        half = only_user(add, "Mul", 0.5) if add is not None else None
        users = consumers.get(half.output[0], []) if half is not None else []
        if half is None or len(users) != 1 or users[0].op_type != "Mul" or div.input[0] not in users[0].input:
            continue
        position = list(graph.node).index(users[0])
        gelu = helper.make_node("Gelu", [div.input[0]], [users[0].output[0]], domain="com.microsoft")
        graph.node.insert(position, gelu)
        graph.node.remove(users[0])


def _drop_dead_nodes(graph: Any) -> None:
    """Remove nodes (and initializers) nothing reaches the outputs through; the graph stays in topological order."""
    needed = {output.name for output in graph.output}
    kept: list[Any] = []
    for node in reversed(list(graph.node)):
        if any(out in needed for out in node.output):
            kept.append(node)
            needed.update(name for name in node.input if name)
    del graph.node[:]
    graph.node.extend(reversed(kept))
    used = [i for i in graph.initializer if i.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(used)
    known = [info for info in graph.value_info if info.name in needed]
    del graph.value_info[:]
    graph.value_info.extend(known)
