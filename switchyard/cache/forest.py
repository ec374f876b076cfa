"""Gradient-boosted trees evaluated with numpy: the pair verifier's model (``verifier.py``).

Walking 1,800 trees level by level costs one round of gathers per level, and the deepest tree sets the number of
levels (18 for the packaged model), which made the walk the slowest part of a lookup. ``LeafMasks`` evaluates every
split of every tree in one comparison instead: each tree's leaves are numbered left to right, each split knows
which leaves lie on its left and on its right, and a split a row does not take rules out the leaves on the side it
does not take. ANDing those masks per tree leaves exactly one bit set, the leaf the walk would reach (the same
``x > threshold`` test decides the side, so a NaN goes left in both). Masks are 32 bits wide (64-bit integer
arithmetic measured five times slower in numpy here); a forest with a tree of more than 32 leaves is walked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

_MASK_BITS = 32


@dataclass(frozen=True)
class LeafMasks:
    """Every split as (feature, threshold, leaves ruled out when the row goes right / goes left)."""

    feature: NDArray[np.int64]
    threshold: NDArray[np.float64]
    if_left: NDArray[np.uint32]
    flip: NDArray[np.uint32]  # if_left ^ if_right: the mask of a row that goes right is if_left ^ flip
    starts: NDArray[np.int64]  # where each tree's splits begin (each tree leads with a row every row takes left)
    leaf_base: NDArray[np.int64]  # position of each tree's first leaf in ``leaf_node``
    leaf_node: NDArray[np.int64]  # global node id of each leaf, tree by tree, left to right

    def leaves(self, x: NDArray[np.float64]) -> NDArray[np.int64]:
        """The leaf (global node id) each row of ``x`` reaches in each tree: shape (rows, trees)."""
        go_right = np.take(x, self.feature, axis=1) > self.threshold
        masks = self.if_left ^ (self.flip * go_right)  # measured faster than np.where
        alive = np.bitwise_and.reduceat(masks, self.starts, axis=1)
        # One bit is left per tree; the number of bits below it is its position.
        rank = np.bitwise_count(alive - np.uint32(1)).astype(np.int64)
        result: NDArray[np.int64] = self.leaf_node[self.leaf_base + rank]
        return result


def compile_masks(
    roots: NDArray[np.int64], feature: NDArray[np.int64], threshold: NDArray[np.float64],
    left: NDArray[np.int64], right: NDArray[np.int64], is_leaf: NDArray[np.bool_],
) -> LeafMasks | None:
    """The masks of a forest whose trees each occupy the node ids from their root to the next root, children
    after their parent (as exported by ``cache_train.export_forest``); None for any other layout."""
    ends = np.append(roots[1:], len(feature))
    features: list[int] = []
    thresholds: list[float] = []
    if_right: list[int] = []
    if_left: list[int] = []
    starts: list[int] = []
    leaf_base: list[int] = []
    leaf_node: list[int] = []
    full = (1 << _MASK_BITS) - 1
    for root, end in zip(roots.tolist(), ends.tolist(), strict=True):
        inner = [n for n in range(root, end) if not is_leaf[n]]
        if any(not (n < left[n] < end and n < right[n] < end) for n in inner):
            return None
        order = _leaves_in_order(root, left, right, is_leaf)
        if len(order) > _MASK_BITS:
            return None
        bit = {node: 1 << i for i, node in enumerate(order)}
        below: dict[int, int] = {}
        for node in range(end - 1, root - 1, -1):  # children have larger ids than their parent
            below[node] = bit[node] if is_leaf[node] else below[int(left[node])] | below[int(right[node])]
        starts.append(len(features))
        features.append(0)
        thresholds.append(np.inf)
        mine = (1 << len(order)) - 1
        if_right.append(mine)
        if_left.append(mine)  # the leading row never goes right; it clears the bits no leaf of this tree uses
        for node in inner:
            features.append(int(feature[node]))
            thresholds.append(float(threshold[node]))
            if_right.append(full ^ below[int(left[node])])
            if_left.append(full ^ below[int(right[node])])
        leaf_base.append(len(leaf_node))
        leaf_node.extend(order)
    return LeafMasks(
        feature=np.asarray(features, dtype=np.int64),
        threshold=np.asarray(thresholds, dtype=np.float64),
        if_left=np.asarray(if_left, dtype=np.uint32),
        flip=np.asarray(if_left, dtype=np.uint32) ^ np.asarray(if_right, dtype=np.uint32),
        starts=np.asarray(starts, dtype=np.int64),
        leaf_base=np.asarray(leaf_base, dtype=np.int64),
        leaf_node=np.asarray(leaf_node, dtype=np.int64),
    )


def _leaves_in_order(
    root: int, left: NDArray[np.int64], right: NDArray[np.int64], is_leaf: NDArray[np.bool_]
) -> list[int]:
    order: list[int] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if is_leaf[node]:
            order.append(node)
        else:
            stack.extend((int(right[node]), int(left[node])))  # left popped first
    return order


@dataclass(frozen=True)
class Forest:
    """Gradient-boosted regression trees flattened into arrays (node ids are global across trees)."""

    roots: NDArray[np.int64]
    feature: NDArray[np.int64]
    threshold: NDArray[np.float64]
    left: NDArray[np.int64]
    right: NDArray[np.int64]
    is_leaf: NDArray[np.bool_]
    value: NDArray[np.float64]
    baseline: float
    depth: int
    # Derived tables, built once on first use (a frozen dataclass: this dict is its only mutable part).
    _derived: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def decision(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """Raw scores (log-odds) for each row of ``x``: the sum of the leaves reached, plus the baseline."""
        masks = self.masks()
        if masks is None:
            return self.decision_walk(x)
        node = masks.leaves(np.ascontiguousarray(x, dtype=np.float64))
        result: NDArray[np.float64] = self.value[node].sum(axis=1) + self.baseline
        return result

    def decision_walk(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """The same scores by walking every tree one level per step, in lock-step (the reference evaluation).

        A leaf is its own child on both sides (threshold +inf, feature 0), so no step needs to ask whether a
        walk has ended; every few steps we stop early once no walk moved.
        """
        flat_children, feature, threshold = self._walk_tables()
        width = x.shape[1]
        flat = np.ascontiguousarray(x, dtype=np.float64).ravel()
        offsets = (np.arange(x.shape[0]) * width)[:, None]
        node = np.broadcast_to(self.roots, (x.shape[0], self.roots.shape[0])).copy()
        for step in range(self.depth):
            go_right = flat[offsets + feature[node]] > threshold[node]
            moved = flat_children[2 * node + go_right]
            if step % 4 == 3 and np.array_equal(moved, node):
                break
            node = moved
        result: NDArray[np.float64] = self.value[node].sum(axis=1) + self.baseline
        return result

    def masks(self) -> LeafMasks | None:
        """The compiled split masks (None when a tree is too large for them); built on the first call."""
        if "masks" not in self._derived:
            self._derived["masks"] = compile_masks(
                self.roots, self.feature, self.threshold, self.left, self.right, self.is_leaf
            )
        masks: LeafMasks | None = self._derived["masks"]
        return masks

    def _walk_tables(self) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
        if "walk" not in self._derived:
            ids = np.arange(len(self.feature))
            children = np.stack([np.where(self.is_leaf, ids, self.left), np.where(self.is_leaf, ids, self.right)], 1)
            feature = np.where(self.is_leaf, 0, self.feature)
            threshold = np.where(self.is_leaf, np.inf, self.threshold)
            self._derived["walk"] = (children.ravel(), feature, threshold)
        tables: tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]] = self._derived["walk"]
        return tables


def forest_from_arrays(arrays: dict[str, Any]) -> Forest:
    return Forest(
        roots=arrays["roots"].astype(np.int64),
        feature=arrays["feature"].astype(np.int64),
        threshold=arrays["node_threshold"].astype(np.float64),
        left=arrays["left"].astype(np.int64),
        right=arrays["right"].astype(np.int64),
        is_leaf=arrays["is_leaf"].astype(np.bool_),
        value=arrays["value"].astype(np.float64),
        baseline=float(arrays["baseline"]),
        depth=int(arrays["depth"]),
    )
