"""Decision overhead of router groups: p50/p99 per request, with and without featurisation.

"with features" is ``RouterGroup.decide`` as the gateway runs it for a request: capability filter (with the token
count), prompt extraction, TF-IDF featurisation, the router head, the threshold. "without features" replays the
same decisions with each prompt's router score computed beforehand, so it measures everything but the
featurisation and the head (the issue's "excluding embedding"). The ``minilm`` row is a learned router over MiniLM
prompt embeddings (``--minilm-router``; the default file is made by ``switchyard train router --dataset mmlu --kind
ensemble-minilm --out bench/results/routers/mmlu-ensemble-minilm.npz``): its "with features" column includes
clipping the prompt and the MiniLM forward pass (one thread, one prompt per request, as the gateway runs it). A
second table gives the embedding alone per prompt: word pieces of the whole and the clipped prompt, and the
forward pass's time on each (robust to a busy machine, unlike the p99s).
The cascade row times the answer scorer on one (prompt, answer) pair, which a cascade pays once per cheap answer.
Targets (issue 6): p99 <= 5 ms without features, <= 15 ms with them.

    .venv/bin/python bench/router.py [--requests 2000] [--minilm-router FILE | --minilm-router none]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import msgspec
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _progress import phases  # noqa: E402 - bench/ is on the path when run as a script

from switchyard.accounting.tokens import TokenCounter  # noqa: E402
from switchyard.config.schema import Config  # noqa: E402
from switchyard.eval import data as datasets  # noqa: E402
from switchyard.providers.base import ProviderContext  # noqa: E402
from switchyard.providers.registry import PROVIDERS  # noqa: E402
from switchyard.routing.build import build_groups  # noqa: E402
from switchyard.routing.learned.deciders import ThresholdDecider  # noqa: E402
from switchyard.routing.learned.scorer import fit_scorer  # noqa: E402
from switchyard.routing.options import DEFAULT_OPTIONS  # noqa: E402
from switchyard.routing.router_build import build_routers  # noqa: E402
from switchyard.routing.router_group import RouterGroup, prompt_text  # noqa: E402
from switchyard.transport import HttpTransport  # noqa: E402
from switchyard.types.chat import ChatRequest  # noqa: E402


def prompts(count: int) -> list[str]:
    folder = datasets.default_data_dir()
    if (folder / "routellm_evals").is_dir():
        mmlu = datasets.load_mmlu(folder).prompts
        pick = np.random.default_rng(0).permutation(len(mmlu))[:count]
        return [mmlu[i] for i in pick] + datasets.load_mt_bench(folder).prompts
    return [f"question {i}: " + "explain the routing of requests " * (i % 30 + 1) for i in range(count)]


MINILM_ROUTER = Path(__file__).resolve().parent / "results" / "routers" / "mmlu-ensemble-minilm.npz"


def router(kind: str, model_path: Path | None = None) -> RouterGroup:
    demo = {"deployments": [{"provider": "demo", "model": "demo"}]}
    spec: dict[str, object] = {"kind": kind, "members": ["cheap", "strong"], "strong_share": 0.3}
    if model_path is not None:
        spec["model_path"] = str(model_path)
    cfg = Config.model_validate({"model_groups": {"cheap": demo, "strong": demo, "auto": {"router": spec}}})
    groups = build_groups(cfg, PROVIDERS, ProviderContext(HttpTransport(), cfg.router, None, 1))  # type: ignore[arg-type]
    counter = TokenCounter()
    counter.warm("o200k_base")
    return build_routers(cfg, groups, counter)["auto"]


def timed(run: Callable[[int], object], count: int) -> tuple[float, float]:
    for i in range(min(count, 50)):  # warm-up
        run(i)
    samples = []
    for i in range(count):
        start = time.perf_counter()
        run(i)
        samples.append((time.perf_counter() - start) * 1000)
    p50, p99 = np.percentile(samples, [50, 99])
    return float(p50), float(p99)


def embedding_table(texts: list[str], count: int) -> list[str]:
    """Word pieces the model sees and forward-pass ms per prompt: whole prompts (cut at the embedder's 128-piece
    limit) vs the router's clipped prompts; the prompts' own length in word pieces heads the table."""
    from tokenizers import BertWordPieceTokenizer

    from switchyard.cache.embed import MAX_TOKENS, VOCAB_PATH, MiniLMEmbedder
    from switchyard.routing.learned.embed_features import ROUTER_HEAD_TOKENS, ROUTER_TAIL_TOKENS, PromptClipper

    embedder, clip = MiniLMEmbedder(threads=1), PromptClipper(ROUTER_HEAD_TOKENS, ROUTER_TAIL_TOKENS)
    tokenizer = BertWordPieceTokenizer(str(VOCAB_PATH), lowercase=True)  # no truncation: the real lengths
    sample = texts[:count]
    whole = np.array([len(tokenizer.encode(t).ids) for t in sample])
    lines = [
        f"prompt length in word pieces (with [CLS], [SEP]): p50 {np.percentile(whole, 50):.0f}, "
        f"p99 {np.percentile(whole, 99):.0f}, over {MAX_TOKENS}: {np.mean(whole > MAX_TOKENS):.0%}\n",
        "| embedded text | pieces p50 | pieces p99 | embed ms p50 | embed ms p99 |",
        "| --- | --- | --- | --- | --- |",
    ]
    keep: Callable[[str], str] = str
    for label, prepare in (
        (f"whole prompt, cut at {MAX_TOKENS}", keep),
        ("clipped (router; time includes the clip)", clip),
    ):
        seen = np.minimum([len(tokenizer.encode(prepare(t)).ids) for t in sample], MAX_TOKENS)
        p50, p99 = timed(lambda i, f=prepare: embedder.encode([f(sample[i % len(sample)])]), len(sample))
        lines.append(
            f"| {label} | {np.percentile(seen, 50):.0f} | {np.percentile(seen, 99):.0f} | {p50:.2f} | {p99:.2f} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--minilm-router", default=str(MINILM_ROUTER), help="a *-minilm router file, or none")
    args = parser.parse_args()
    minilm = None if args.minilm_router == "none" else Path(args.minilm_router)
    if minilm is not None and not minilm.exists():
        print(f"no MiniLM router at {minilm}: skipping the minilm row (train one, see docs/routing-eval.md)")
        minilm = None
    modes: list[tuple[str, str, Path | None]] = [("learned", "learned", None), ("length", "length", None)]
    modes += [("random", "random", None)] + ([("minilm", "learned", minilm)] if minilm else [])
    texts = prompts(args.requests)
    requests = [
        msgspec.json.decode(
            json.dumps({"model": "auto", "messages": [{"role": "user", "content": t}]}), type=ChatRequest
        )
        for t in texts
    ]
    n = len(requests)
    stack = ExitStack()
    rows = []
    bar = stack.enter_context(phases(2 * len(modes) + 1 + (1 if minilm else 0)))
    for label, kind, path in modes:
        bar.begin(f"{label} router, with features")
        group = router(kind, path)
        full = timed(lambda i, g=group: g.decide(requests[i % n], DEFAULT_OPTIONS), args.requests)
        decider = group.decider
        if isinstance(decider, ThresholdDecider):  # replay with the scores precomputed: no featurisation
            scores = {prompt_text(r): decider._score(prompt_text(r)) for r in requests}
            decider._score = scores.__getitem__
        bar.begin(f"{label} router, features precomputed")
        bare = timed(lambda i, g=group: g.decide(requests[i % n], DEFAULT_OPTIONS), args.requests)
        rows.append((label, bare, full))
    bar.begin("cascade answer scorer")
    answers = [["the answer is " + t[:40]] for t in texts[:200]]
    scorer = fit_scorer(texts[:200], answers, np.array([[i % 2] for i in range(200)], dtype=float), ["any"])
    cascade = timed(lambda i: scorer.score("cheap", texts[i % n], answers[i % 200][0], -0.3), args.requests)
    embedding = []
    if minilm:
        bar.begin("MiniLM embedding per prompt")
        embedding = embedding_table(texts, min(n, 1000))
    stack.close()  # the bar ends before the table prints

    print(f"router decision overhead, {args.requests} requests over {n} prompts (ms)\n")
    print("| router | p50 w/o features | p99 w/o features | p50 with features | p99 with features |")
    print("| --- | --- | --- | --- | --- |")
    for kind, bare, full in rows:
        print(f"| {kind} | {bare[0]:.3f} | {bare[1]:.3f} | {full[0]:.3f} | {full[1]:.3f} |")
    print(f"| cascade answer scorer | | | {cascade[0]:.3f} | {cascade[1]:.3f} |")
    worst = max(r[1][1] for r in rows), max(max(r[2][1] for r in rows), cascade[1])
    verdict = "met" if worst[0] <= 5 and worst[1] <= 15 else "MISSED"
    if embedding:
        print(f"\nMiniLM embedding per prompt (one thread, {min(n, 1000)} prompts), ms\n")
        print("\n".join(embedding))
    print(f"\ntargets p99 <= 5 ms without / <= 15 ms with features: {verdict} ({worst[0]:.2f} / {worst[1]:.2f})")


if __name__ == "__main__":
    main()
