"""Loaders for the stored router-evaluation data in ``<repo>/../shared/data`` (see each folder's README).

Every loader returns plain numpy arrays and lists; nothing is copied into the repo and nothing is downloaded.
"""

from __future__ import annotations

import ast
import csv
import json
import math
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

ROUTELLM_STRONG = "gpt-4-1106-preview"
ROUTELLM_WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1"
ROUTERBENCH_TASKS = {"arc": "arc_challenge_train.csv", "mbpp": "mbpp_train.csv", "winogrande": "winograde_train.csv"}
# RouterBench answered the same two models RouteLLM compares, under its own column names.
ROUTERBENCH_STRONG = "gpt-4-1106-preview"
ROUTERBENCH_WEAK = "mistralai/mixtral-8x7b-chat"

csv.field_size_limit(sys.maxsize)


def default_data_dir() -> Path:
    """``<repo>/../shared/data``: the repo is the parent of the ``switchyard`` package."""
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


@dataclass(frozen=True)
class PairOutcomes:
    """Two-model outcomes: the quality of the strong and the weak model's answer to each prompt."""

    name: str
    prompts: list[str]
    strong: FloatArray
    weak: FloatArray
    groups: list[str]
    strong_name: str = ROUTELLM_STRONG
    weak_name: str = ROUTELLM_WEAK

    def __len__(self) -> int:
        return len(self.prompts)

    def subset(self, index: NDArray[np.intp]) -> PairOutcomes:
        return PairOutcomes(
            self.name,
            [self.prompts[i] for i in index],
            self.strong[index],
            self.weak[index],
            [self.groups[i] for i in index],
            self.strong_name,
            self.weak_name,
        )


@dataclass(frozen=True)
class MultiOutcomes:
    """Many-model outcomes: quality and $ cost of every model's answer to each prompt (rows × models)."""

    name: str
    prompts: list[str]
    models: list[str]
    quality: FloatArray
    cost: FloatArray
    groups: list[str]
    responses: list[list[str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.prompts)

    def subset(self, index: NDArray[np.intp]) -> MultiOutcomes:
        return MultiOutcomes(
            self.name,
            [self.prompts[i] for i in index],
            self.models,
            self.quality[index],
            self.cost[index],
            [self.groups[i] for i in index],
            [self.responses[i] for i in index] if self.responses else [],
        )

    def pair(self, strong: str, weak: str) -> PairOutcomes:
        s, w = self.models.index(strong), self.models.index(weak)
        return PairOutcomes(self.name, self.prompts, self.quality[:, s], self.quality[:, w], self.groups, strong, weak)


def _truthy(value: str) -> float:
    return 1.0 if value.strip().lower() in ("true", "1", "1.0") else 0.0


def load_mmlu(data_dir: Path, subjects: list[str] | None = None) -> PairOutcomes:
    """RouteLLM's MMLU responses (57 subjects), decontaminated as ``routellm/evals/benchmarks.py`` does."""
    folder = data_dir / "routellm_evals" / "mmlu_responses"
    contaminated = set()
    with (folder / "_contaminated_prompts.jsonl").open() as handle:
        for line in handle:
            if line.strip():
                contaminated.add(json.loads(line)["eval_prompt"])
    prompts: list[str] = []
    strong: list[float] = []
    weak: list[float] = []
    groups: list[str] = []
    for path in sorted(folder.glob("mmlu_*.csv")):
        subject = path.stem.removeprefix("mmlu_")
        if subjects is not None and subject not in subjects:
            continue
        with path.open(newline="") as handle:
            for row in csv.DictReader(handle):
                if row["prompt"] in contaminated:
                    continue
                prompts.append(row["prompt"])
                strong.append(_truthy(row[ROUTELLM_STRONG]))
                weak.append(_truthy(row[ROUTELLM_WEAK]))
                groups.append(subject)
    return PairOutcomes("mmlu", prompts, np.array(strong), np.array(weak), groups)


def load_mt_bench(data_dir: Path) -> PairOutcomes:
    """MT-Bench: route on the first turn, quality = mean GPT-4 judge score of both turns (RouteLLM's MTBench)."""
    folder = data_dir / "routellm_evals" / "mt_bench"
    contaminated = {json.loads(line)["eval_prompt"] for line in (folder / "contaminated_prompts.jsonl").open() if line}
    scores: dict[tuple[int, str], list[float]] = {}
    for line in (folder / "judgements.jsonl").open():
        if line.strip():
            item = json.loads(line)
            scores.setdefault((item["question_id"], item["model"]), []).append(float(item["score"]))
    prompts: list[str] = []
    strong: list[float] = []
    weak: list[float] = []
    groups: list[str] = []
    for line in (folder / "question.jsonl").open():
        if not line.strip():
            continue
        item = json.loads(line)
        turns = item["turns"]
        if turns[0] in contaminated or turns[1] in contaminated:
            continue
        qid = item["question_id"]
        prompts.append(turns[0])
        strong.append(float(np.mean(scores[(qid, ROUTELLM_STRONG)])))
        weak.append(float(np.mean(scores[(qid, ROUTELLM_WEAK)])))
        groups.append(item["category"])
    return PairOutcomes("mt-bench", prompts, np.array(strong), np.array(weak), groups)


ALPACA_STRONG = "gpt4_1106_preview"
# The strongest open-weights column that is still weaker than the strong model on average (mean win prob 0.137);
# the FuseChat columns beat gpt4_1106_preview on raw win rate, so they are no "weak" model. Same family as RouteLLM's.
ALPACA_WEAK = "Mixtral-8x7B-Instruct-v0.1_concise"


def load_alpacaeval(data_dir: Path, weak: str = ALPACA_WEAK) -> PairOutcomes:
    """AlpacaEval 2.0 (805 instructions): weak quality = P(weak answer preferred over gpt4_1106_preview's), strong
    quality = 0.5, the strong model's preference against itself (a tie), as the data folder's README defines it.

    Like MT-Bench's judge scores, the qualities are graded, not 0/1: routing a prompt to the strong model gains
    0.5 - p. Scoring the strong answer 1 - p instead would double every per-prompt gain and the strong-weak gap
    alike, leaving APGR, CPT and the win labels unchanged. ``groups`` are the instruction's source subset."""
    folder = data_dir / "alpacaeval_weighted_pref_matrix"
    with (folder / "instructions.csv").open(newline="") as handle:
        rows = {int(row["idx"]): (row["instruction"], row["dataset"]) for row in csv.DictReader(handle)}
    prompts: list[str] = []
    strong: list[float] = []
    weak_q: list[float] = []
    groups: list[str] = []
    with (folder / "win_prob_vs_gpt4_1106_preview.csv").open(newline="") as handle:
        reader = csv.DictReader(handle)
        if weak not in (reader.fieldnames or []):
            raise ValueError(f"no AlpacaEval column {weak!r} in {folder}")
        for row in reader:
            instruction, source = rows[int(row["idx"])]
            prompts.append(instruction)
            strong.append(float(row[ALPACA_STRONG]))
            weak_q.append(float(row[weak]))
            groups.append(source)
    return PairOutcomes("alpacaeval", prompts, np.array(strong), np.array(weak_q), groups, ALPACA_STRONG, weak)


def _joined(cell: str) -> str:
    """RouterBench stores prompts and responses as a stringified Python list of strings."""
    try:
        value = ast.literal_eval(cell)
    except (ValueError, SyntaxError):
        return cell
    if isinstance(value, list):
        return "\n".join(str(part) for part in value)
    return str(value)


def load_routerbench(data_dir: Path, task: str) -> MultiOutcomes:
    """RouterBench rows from RouterDC's split: 11 models' 0/1 correctness and $ cost; rows with a NaN are dropped
    (as RouterBench's cascading router does)."""
    path = data_dir / "routerbench_subset_routerdc" / ROUTERBENCH_TASKS[task]
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        models = [c[: -len("|total_cost")] for c in columns if c.endswith("|total_cost")]
        models.sort()
        prompts: list[str] = []
        quality: list[list[float]] = []
        cost: list[list[float]] = []
        responses: list[list[str]] = []
        for row in reader:
            values = [float(row[m]) if row[m] != "" else math.nan for m in models]
            if any(math.isnan(v) for v in values):
                continue
            prompts.append(_joined(row["prompt"]))
            quality.append(values)
            cost.append([float(row[f"{m}|total_cost"]) for m in models])
            responses.append([_joined(row[f"{m}|model_response"]) for m in models])
    return MultiOutcomes(task, prompts, models, np.array(quality), np.array(cost), [task] * len(prompts), responses)


def load_routerbench_pair(data_dir: Path, task: str) -> PairOutcomes:
    """One RouterBench task as a two-model dataset, GPT-4 vs Mixtral: the RouteLLM pair on tasks it never saw."""
    return replace(load_routerbench(data_dir, task).pair(ROUTERBENCH_STRONG, ROUTERBENCH_WEAK), name=f"{task}-pair")


def load_routerbench_all(data_dir: Path) -> MultiOutcomes:
    """All three RouterBench tasks stacked; ``groups`` names each row's task (for out-of-domain splits)."""
    parts = [load_routerbench(data_dir, task) for task in ROUTERBENCH_TASKS]
    return MultiOutcomes(
        "routerbench",
        [p for part in parts for p in part.prompts],
        parts[0].models,
        np.vstack([part.quality for part in parts]),
        np.vstack([part.cost for part in parts]),
        [g for part in parts for g in part.groups],
        [r for part in parts for r in part.responses],
    )


@dataclass(frozen=True)
class FrugalRow:
    """One row of FrugalGPT's published summary: a single model or the cascade at one budget."""

    method: str
    provider: str
    test_acc: float
    test_cost: float
    budget: float


def load_frugalgpt_summary(data_dir: Path, dataset: str) -> list[FrugalRow]:
    folder = data_dir / "frugalgpt_2024_summary"
    matches = sorted(folder.glob(f"summary_{dataset.upper()}_*_full_2024.csv"))
    if not matches:
        raise FileNotFoundError(f"no FrugalGPT summary for {dataset} in {folder}")
    with matches[0].open(newline="") as handle:
        return [
            FrugalRow(
                row["Method"], row["Provider"], float(row["Test_acc"]), float(row["Test_cost"]), float(row["Budget"])
            )
            for row in csv.DictReader(handle)
        ]
