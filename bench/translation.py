"""What does translation cost? Each provider adapter in-process, against OpenAI's pass-through path.

    .venv/bin/python bench/translation.py [--iterations 3000] [--warmup 300]

For every provider the adapter is built exactly as the gateway builds it, and one typical request (a system
prompt, three turns, two tools, temperature and max_tokens) is sent once over HTTP to that provider's fake
upstream (``tests/fakes``), recording the upstream's answer: a JSON body, and for the streamed variant the raw
stream bytes as they arrived. Then the adapter is timed with a transport that replays the recording from memory,
so what is measured is only the adapter: request translation and encoding, headers (and SigV4 signing for
Bedrock), and response translation (decoding the upstream's JSON or stream framing and encoding OpenAI's).

The baseline is the ``openai`` adapter, the pass-through path (the body is forwarded; only the model is renamed,
and streams are relayed chunk by chunk). The issue's target: translation adds no more than 0.3 ms at p50 over
pass-through for a typical request. Decoding the client's body is the same for every provider and not timed.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import msgspec  # noqa: E402
from _progress import phases  # noqa: E402 - bench/ is on the path when run as a script
from multidict import CIMultiDict  # noqa: E402

from switchyard.config.schema import Deployment, RouterSettings  # noqa: E402
from switchyard.providers.base import ChatCall, ProviderContext  # noqa: E402
from switchyard.providers.registry import PROVIDERS  # noqa: E402
from switchyard.transport import HttpTransport, UpstreamResponse  # noqa: E402
from switchyard.transport.guarded import GuardedFetcher  # noqa: E402
from switchyard.types.chat import ChatRequest  # noqa: E402
from tests.conformance.native import Bedrock  # noqa: E402
from tests.conformance.rows import UPSTREAMS  # noqa: E402
from tests.conformance.upstream import Upstream  # noqa: E402

TARGET_MS = 0.3
TOOLS = [
    {"type": "function", "function": {"name": name, "description": f"{name} the web",
     "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}}
    for name in ("search", "lookup")
]  # fmt: skip
TYPICAL: dict[str, Any] = {
    "model": "bench",  # a model group name: the adapter renames it, as in the gateway
    "messages": [
        {"role": "system", "content": "You are a concise assistant for a network operations team."},
        {"role": "user", "content": "Our gateway sits in front of several model providers."},
        {"role": "assistant", "content": "Understood. What would you like to know about it?"},
        {"role": "user", "content": "What is a gateway, in two sentences?"},
    ],
    "tools": TOOLS,
    "tool_choice": "auto",
    "temperature": 0.7,
    "max_tokens": 256,
}


@dataclass
class Recorded:
    status: int
    headers: Mapping[str, str]
    body: bytes
    chunks: list[bytes]


class _Replayed:
    """An UpstreamStream stand-in that yields recorded bytes."""

    def __init__(self, recorded: Recorded) -> None:
        self.status, self.headers, self._recorded = recorded.status, recorded.headers, recorded
        self.upstream_request_id = None

    async def read(self) -> bytes:
        return self._recorded.body

    async def chunks(self) -> AsyncIterator[bytes]:
        for chunk in self._recorded.chunks:
            yield chunk

    async def aclose(self) -> None:
        return None


class RecordingTransport:
    """Forwards to a real HttpTransport while ``recording``, then answers from what it recorded."""

    def __init__(self) -> None:
        self.http = HttpTransport()
        self.recording = True
        self.plain: Recorded | None = None
        self.stream: Recorded | None = None

    async def post(self, url: str, body: bytes, headers: Mapping[str, str], *args: Any) -> UpstreamResponse:
        if self.recording:
            response = await self.http.post(url, body, headers, *args)
            self.plain = Recorded(response.status, CIMultiDict(response.headers), response.body, [])
        assert self.plain is not None
        return UpstreamResponse(self.plain.status, self.plain.headers, self.plain.body)

    async def open_stream(self, url: str, body: bytes, headers: Mapping[str, str], *args: Any) -> Any:
        if self.recording:
            stream = await self.http.open_stream(url, body, headers, *args)
            try:
                chunks = [chunk async for chunk in stream.chunks()]
            finally:
                await stream.aclose()
            self.stream = Recorded(stream.status, CIMultiDict(stream.headers), b"".join(chunks), chunks)
        assert self.stream is not None
        return _Replayed(self.stream)


@dataclass
class Timing:
    name: str
    plain_us: list[float]
    stream_us: list[float]
    stream_chunks: int


def _call(streamed: bool) -> ChatCall:
    body = dict(TYPICAL, stream=True) if streamed else TYPICAL
    raw = msgspec.json.encode(body)
    return ChatCall(msgspec.json.decode(raw, type=ChatRequest), raw)


async def _measure(label: str, deployment: dict[str, Any], iterations: int, warmup: int) -> Timing:
    transport = RecordingTransport()
    fetcher = GuardedFetcher(max_bytes=1 << 20, timeout_s=5)
    context = ProviderContext(transport, RouterSettings(), fetcher, 1 << 20)  # type: ignore[arg-type]
    provider = PROVIDERS[deployment["provider"]](Deployment(**deployment), context)
    plain_call, stream_call = _call(False), _call(True)

    async def plain() -> None:
        await provider.chat(plain_call)

    async def stream() -> int:
        relay = await provider.chat_stream(stream_call)
        count = 0
        async for batch in relay.batches():
            count += len(batch)
        return count

    try:
        await plain()  # recorded over HTTP
        chunks = await stream()
    finally:
        await transport.http.close()
    assert transport.plain is not None and transport.plain.status == 200, transport.plain
    assert transport.stream is not None and transport.stream.status == 200, transport.stream
    transport.recording = False
    timings: dict[str, list[float]] = {"plain": [], "stream": []}
    for kind, run in (("plain", plain), ("stream", stream)):
        for n in range(warmup + iterations):
            start = time.perf_counter_ns()
            await run()
            if n >= warmup:
                timings[kind].append((time.perf_counter_ns() - start) / 1000)
    return Timing(label, timings["plain"], timings["stream"], chunks)


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1]


def _rows(upstreams: tuple[Upstream, ...]) -> list[tuple[str, dict[str, Any]]]:
    rows: list[tuple[str, dict[str, Any]]] = []
    for upstream in upstreams:
        if upstream.name == "demo":
            continue  # no upstream, nothing translated
        label = "openai (pass-through)" if upstream.name == "openai" else upstream.name
        rows.append((label, upstream.deployment()))
        if isinstance(upstream, Bedrock):  # SigV4 signing is per request; a Bedrock API key needs none
            bearer = {k: v for k, v in upstream.deployment().items() if not k.startswith("aws_") or k == "aws_region"}
            upstream.fake.api_key = "bedrock-api-key-0123456789"
            rows.append(("bedrock (API key)", {**bearer, "api_key": "bedrock-api-key-0123456789"}))
    return rows


async def _run(iterations: int, warmup: int) -> list[Timing]:
    results = []
    rows = list(_rows(UPSTREAMS))
    with phases(len(rows)) as bar:
        for label, deployment in rows:
            bar.begin(label)
            results.append(await _measure(label, deployment, iterations, warmup))
    return results


def report(results: list[Timing]) -> str:
    base_plain = statistics.median(results[0].plain_us)
    base_stream = statistics.median(results[0].stream_us)
    lines = [
        "| provider | plain p50 µs | plain p90 µs | Δ p50 vs pass-through | stream p50 µs | stream p90 µs | "
        "Δ p50 vs pass-through | chunks out | within 0.3 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for timing in results:
        plain, stream = statistics.median(timing.plain_us), statistics.median(timing.stream_us)
        extra = max(plain - base_plain, stream - base_stream)
        verdict = "baseline" if timing is results[0] else ("yes" if extra <= TARGET_MS * 1000 else "NO")
        lines.append(
            f"| {timing.name} | {plain:.0f} | {_p(timing.plain_us, 90):.0f} | {plain - base_plain:+.0f} | "
            f"{stream:.0f} | {_p(timing.stream_us, 90):.0f} | {stream - base_stream:+.0f} | {timing.stream_chunks} "
            f"| {verdict} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=300)
    args = parser.parse_args(argv)
    started = []
    try:
        for upstream in UPSTREAMS:
            upstream.start()
            started.append(upstream)
        results = asyncio.run(_run(args.iterations, args.warmup))
    finally:
        for upstream in started:
            upstream.stop()
    print(f"Adapter time per request, in-process ({args.iterations} runs after {args.warmup} warm-up; "
          f"Python {sys.version.split()[0]}):\n")  # fmt: skip
    print(report(results))
    worst = max(
        max(statistics.median(t.plain_us) - statistics.median(results[0].plain_us),
            statistics.median(t.stream_us) - statistics.median(results[0].stream_us))
        for t in results[1:]
    )  # fmt: skip
    print(f"\nWorst p50 overhead over pass-through: {worst / 1000:.3f} ms (target: <= {TARGET_MS} ms).")
    return 0 if worst <= TARGET_MS * 1000 else 1


if __name__ == "__main__":
    raise SystemExit(main())
