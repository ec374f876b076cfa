"""Learned routers at inference time: numpy only, loaded from a small versioned ``.npz`` file (no pickle).

Every router predicts, per prompt, one column per output: for a two-model router (``target == "win"``) the
single column is P(strong model's answer is better), ties counted half; for a many-model router
(``target == "quality"``) one column per model with its predicted quality. Two knobs trade cost for quality:
``threshold(share)`` maps a target share of strong calls to a score threshold (from the calibration quantiles
stored in the file), and ``choose(prompts, cost_weight)`` picks argmax(quality − λ·cost) among many models.

File format (``FORMAT``, version ``VERSION``): ``np.savez_compressed`` arrays plus ``meta``, a UTF-8 JSON document
stored as a uint8 array; it is read with ``allow_pickle=False``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from switchyard.routing.learned.embed_features import KIND as MINILM
from switchyard.routing.learned.embed_features import MiniLMFeatures
from switchyard.routing.learned.features import StatsFeatures, TfidfFeatures, length_feature

FloatArray = NDArray[np.float64]
FORMAT = "switchyard-router"
VERSION = 1
KINDS = ("linear", "knn", "mf", "mlp", "ensemble", "random", "length")
# class order of a multinomial "win" head: neither right, only weak right, only strong right, both right
WIN_CLASSES = 4


class RouterFileError(ValueError):
    """The file is not a router this version can read."""


@dataclass
class LearnedRouter:
    kind: str
    target: str  # "win" (two models: models[0] strong, models[1] weak) or "quality" (one column per model)
    models: list[str]
    params: dict[str, FloatArray]
    features: TfidfFeatures | StatsFeatures | MiniLMFeatures | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    calibration: FloatArray | None = None  # quantiles 0..100 % of calibration-set scores
    costs: FloatArray | None = None  # mean $ per call of each model on the training set
    seed: int = 0
    members: list[LearnedRouter] = field(default_factory=list)  # an ensemble averages its members' predictions

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise RouterFileError(f"unknown router kind {self.kind!r}")
        if self.target not in ("win", "quality"):
            raise RouterFileError(f"unknown router target {self.target!r}")
        self._rng = np.random.default_rng(self.seed)

    # -- predictions -------------------------------------------------------------------------------------------
    @property
    def blocking(self) -> bool:
        """True when scoring runs a neural embedding (milliseconds of CPU): the gateway then decides in a thread."""
        return isinstance(self.features, MiniLMFeatures) or any(m.blocking for m in self.members)

    def predict(self, prompts: list[str], batch: int = 256) -> FloatArray:
        """(n × outputs) predictions; batched so wide TF-IDF features never build a large dense matrix."""
        parts = [self._predict(prompts[i : i + batch]) for i in range(0, len(prompts), batch)]
        width = 1 if self.target == "win" else len(self.models)
        return np.vstack(parts) if parts else np.zeros((0, width))

    def score(self, prompts: list[str]) -> FloatArray:
        """P(strong model wins) per prompt. A quality router compares its first two models: (1 + q0 − q1) / 2."""
        out = self.predict(prompts)
        if self.target == "win":
            return out[:, 0]
        return (1.0 + out[:, 0] - out[:, 1]) / 2.0

    def threshold(self, share: float) -> float:
        """Score threshold sending ``share`` of calibration prompts to the strong model (route when score >= t)."""
        if self.calibration is None:
            raise ValueError("router has no calibration: train with a calibration split or call calibrate()")
        if share <= 0.0:
            return math.inf
        grid = np.linspace(0.0, 1.0, len(self.calibration))
        return float(np.interp(1.0 - min(share, 1.0), grid, self.calibration))

    def calibrate(self, prompts: list[str]) -> None:
        self.calibration = np.quantile(self.score(prompts), np.linspace(0.0, 1.0, 101))

    def choose(self, prompts: list[str], cost_weight: float, costs: FloatArray | None = None) -> NDArray[np.intp]:
        """Index of the model maximising predicted quality − cost_weight × cost, per prompt."""
        if self.target != "quality":
            raise ValueError("choose() needs a quality router; use score() and threshold() for two models")
        price = costs if costs is not None else self.costs
        if price is None:
            raise ValueError("no per-model costs: pass costs or train with them")
        utility = self.predict(prompts) - cost_weight * price[None, :]
        return np.asarray(np.argmax(utility, axis=1), dtype=np.intp)

    def _dense(self, prompts: list[str]) -> FloatArray:
        if self.features is None:
            raise RouterFileError(f"{self.kind} router needs features")
        return self.features.transform(prompts)

    def _predict(self, prompts: list[str]) -> FloatArray:
        kind, p = self.kind, self.params
        if kind == "random":
            return self._rng.random((len(prompts), 1 if self.target == "win" else len(self.models)))
        if kind == "length":  # longer prompts need the strong model more often: log(1 + chars) / 10
            return np.array([[length_feature(t)] for t in prompts], dtype=np.float64).reshape(-1, 1)
        if kind == "ensemble":
            return np.asarray(np.mean([m.predict(prompts) for m in self.members], axis=0), dtype=np.float64)
        x = self._dense(prompts)
        if kind == "linear":
            return self._link(np.asarray(x @ p["weights"] + p["bias"], dtype=np.float64))
        if kind == "mlp":  # one ReLU hidden layer, then the same link as the linear head
            hidden = np.maximum(x @ p["w1"] + p["b1"], 0.0)
            return self._link(np.asarray(hidden @ p["w2"] + p["b2"], dtype=np.float64))
        if kind == "knn":
            return knn_predict(x, p["train_x"], p["train_y"], int(self.settings.get("k", 50)))
        return self._link(mf_logits(x, p, self.target))

    def _link(self, z: FloatArray) -> FloatArray:
        if self.target == "win" and z.shape[1] == WIN_CLASSES:
            z = z - z.max(axis=1, keepdims=True)
            e = np.exp(z)
            prob = e / e.sum(axis=1, keepdims=True)
            return np.asarray((1.0 + prob[:, 2] - prob[:, 1]) / 2.0, dtype=np.float64)[:, None]
        return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=np.float64)

    # -- files -------------------------------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        meta, arrays = self.to_arrays("")
        meta.update({"format": FORMAT, "version": VERSION})
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            np.savez_compressed(handle, **arrays)  # type: ignore[arg-type]

    def to_arrays(self, prefix: str) -> tuple[dict[str, Any], dict[str, NDArray[np.generic]]]:
        meta: dict[str, Any] = {
            "kind": self.kind,
            "target": self.target,
            "models": self.models,
            "settings": self.settings,
            "seed": self.seed,
            "features": self.features.meta() if self.features is not None else None,
        }
        arrays: dict[str, NDArray[np.generic]] = {f"{prefix}param.{k}": v for k, v in self.params.items()}
        if self.features is not None:
            arrays.update(self.features.arrays(f"{prefix}features"))
        if self.calibration is not None:
            arrays[f"{prefix}calibration"] = self.calibration
        if self.costs is not None:
            arrays[f"{prefix}costs"] = self.costs
        members = []
        for number, member in enumerate(self.members):
            member_meta, member_arrays = member.to_arrays(f"{prefix}member{number}.")
            members.append(member_meta)
            arrays.update(member_arrays)
        meta["members"] = members
        return meta, arrays

    @classmethod
    def load(cls, path: Path) -> LearnedRouter:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        if "meta" not in arrays:
            raise RouterFileError(f"{path}: not a router file (no meta)")
        meta = json.loads(arrays.pop("meta").tobytes().decode())
        if meta.get("format") != FORMAT or meta.get("version") != VERSION:
            raise RouterFileError(
                f"{path}: format {meta.get('format')} v{meta.get('version')}, want {FORMAT} v{VERSION}"
            )
        return cls.from_arrays(meta, arrays, "")

    @classmethod
    def from_arrays(cls, meta: dict[str, Any], arrays: dict[str, NDArray[np.generic]], prefix: str) -> LearnedRouter:
        features: TfidfFeatures | StatsFeatures | MiniLMFeatures | None = None
        spec = meta.get("features")
        if spec and spec.get("kind") == MINILM:  # builds the embedder: once, when the gateway loads the file
            features = MiniLMFeatures.from_meta(spec)
        elif spec:
            loader = StatsFeatures if spec.get("kind") == "stats" else TfidfFeatures
            features = loader.from_arrays(spec, arrays, f"{prefix}features")
        head = f"{prefix}param."
        params = {
            k.removeprefix(head): np.asarray(v, dtype=np.float64) for k, v in arrays.items() if k.startswith(head)
        }
        members = [
            cls.from_arrays(member, arrays, f"{prefix}member{number}.")
            for number, member in enumerate(meta.get("members") or [])
        ]
        calibration = arrays.get(f"{prefix}calibration")
        costs = arrays.get(f"{prefix}costs")
        return cls(
            kind=meta["kind"],
            target=meta["target"],
            models=list(meta["models"]),
            params=params,
            features=features,
            settings=dict(meta.get("settings") or {}),
            calibration=None if calibration is None else np.asarray(calibration, dtype=np.float64),
            costs=None if costs is None else np.asarray(costs, dtype=np.float64),
            seed=int(meta.get("seed", 0)),
            members=members,
        )


def knn_predict(x: FloatArray, train_x: FloatArray, train_y: FloatArray, k: int) -> FloatArray:
    """Similarity-weighted mean of the k nearest training rows' targets (cosine on l2-normalised features)."""
    sims = x @ train_x.T
    k = min(k, train_x.shape[0])
    idx = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    weights = np.clip(np.take_along_axis(sims, idx, axis=1), 1e-6, None)
    neighbours = train_y[idx]  # (n, k, outputs)
    return np.asarray(np.einsum("nk,nko->no", weights, neighbours) / weights.sum(axis=1, keepdims=True))


def mf_logits(x: FloatArray, p: dict[str, FloatArray], target: str) -> FloatArray:
    """RouteLLM's MF: s(m, x) = classifier · (normalise(P_m) ⊙ (W x)) + b_m; a win head returns s(strong) − s(weak)."""
    emb = p["model_emb"] / np.linalg.norm(p["model_emb"], axis=1, keepdims=True)
    proj = x @ p["text_proj"]  # (n, dim)
    scores = (proj * p["classifier"][None, :]) @ emb.T + p["bias"][None, :]
    if target == "win":
        return np.asarray(scores[:, 0] - scores[:, 1], dtype=np.float64)[:, None]
    return np.asarray(scores)
