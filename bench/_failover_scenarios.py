"""The failover scenarios: a fault at the fake upstreams, the requests a client sends, and what must hold.

Each scenario names its fake upstreams (FakeOpenAI instances, started fresh for it) and gives its setup as a
Switchyard config fragment (``router`` settings and ``model_groups``), which _failover_gateways.py translates for
LiteLLM. Its ``run`` sends requests through the gateway and records checks. A check only uses what any gateway
shows from the outside: the client's status, body and stream; the requests each fake upstream received (and,
for a deployment at a closed port, the gateway's connect() calls); and the time the client waited.

The expectations are issue 4's: zero client-visible errors while a healthy candidate exists (plain requests and
streams before their first byte); Retry-After is honoured; a dead deployment gets at most probe traffic once
its breaker opens; deadlines fire within 10 % of their setting; a stream that breaks after its first byte ends
with an explicit error event, never a silent truncation and never a 200 without [DONE] pretending success.
"""


from __future__ import annotations

import statistics
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _failover_client import HTTP_ERROR, OK, chat
from _failover_ctx import CHAT, PERSISTENT, SCENARIOS, Ctx, Run, scenario, window, within

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.fakes.openai_faults import FaultKind  # noqa: E402
from tests.fakes.openai_upstream import Fault  # noqa: E402

__all__ = ["SCENARIOS"]  # importing this module registers every scenario below


@scenario("healthy", "healthy (no fault)", "200 and a complete stream from primary")
def _healthy(ctx: Ctx) -> None:
    ctx.client_ok(ctx.call(key=True))
    ctx.client_ok(ctx.call(stream=True))
    ctx.served_by("primary", 2)


# --- plain requests: failover before anything reached the client -------------------------------------------------


def _plain_failover(fault: Fault) -> Run:
    def run(ctx: Ctx) -> None:
        ctx.fake("primary").push_fault(fault)
        ctx.client_ok(ctx.call())
        ctx.served_by("secondary")

    return run


for _key, _title, _fault in (
    ("plain-500", "plain: primary answers 500", Fault.server_error(path=CHAT, times=PERSISTENT)),
    ("plain-503", "plain: primary answers 503", Fault.overloaded(path=CHAT, times=PERSISTENT)),
    ("plain-html", "plain: primary answers 200 text/html", Fault("wrong_content_type", path=CHAT, times=PERSISTENT)),
    ("plain-drop", "plain: primary drops the connection", Fault("drop_connection", path=CHAT, times=PERSISTENT)),
):
    scenario(_key, _title, "200 from secondary")(_plain_failover(_fault))


@scenario(
    "429-failover",
    "plain: primary 429 Retry-After 30 s, 5 requests",
    "5×200 from secondary; primary called once, then left alone",
)
def _rate_limited_primary(ctx: Ctx) -> None:
    ctx.fake("primary").push_fault(Fault.rate_limit(retry_after=30, path=CHAT, times=PERSISTENT))
    results = [ctx.call() for _ in range(5)]
    ctx.check(all(s.kind == OK for s in results), "all 5 requests got 200", ", ".join(s.summary() for s in results))
    ctx.check(ctx.calls("primary") == 1, "primary left alone during Retry-After", f"primary {ctx.calls('primary')}")


@scenario(
    "429-single",
    "plain: only deployment 429 Retry-After 1 s",
    "200; the retry waits for Retry-After (≥ 1 s)",
    router={"max_retry_after_s": 5},
    groups=lambda ups: {"chat": {"deployments": [ups.dep("only")]}},
    fakes=("only",),
)
def _retry_after_single(ctx: Ctx) -> None:
    ctx.fake("only").push_fault(Fault.rate_limit(retry_after=1, path=CHAT))
    ctx.client_ok(ctx.call())
    times = [r.time for r in ctx.fake("only").requests if r.path == CHAT]
    gap = times[1] - times[0] if len(times) >= 2 else None
    detail = f"{len(times)} calls" + (f", retried after {gap:.3f} s" if gap is not None else "")
    # 0.95: the fake stamps each request after reading its body, so the gap can look a little shorter than the wait.
    ctx.check(gap is not None and gap >= 0.95, "retried only after Retry-After (1 s)", detail)


@scenario(
    "refused",
    "plain: primary port closed (connection refused), 10 requests",
    "10×200; dead deployment ≤ 3 connects (breaker: 3 failures, 60 s cooldown)",
    router={"breaker": {"consecutive_failures": 3, "cooldown_s": 60}},
    groups=lambda ups: {"chat": {"deployments": [ups.dep("dead", 10), ups.dep("secondary", 5)]}},
    fakes=("secondary",),
    dead=True,
)
def _refused(ctx: Ctx) -> None:
    results = [ctx.call() for _ in range(10)]
    ctx.check(all(s.kind == OK for s in results), "all 10 requests got 200", ", ".join(s.summary() for s in results))
    dead = ctx.calls("dead")
    ctx.check(dead <= 3, "dead deployment gets ≤ 3 connection attempts", f"{dead} connects")
    ctx.served_by("secondary", 10)


# --- deadlines ---------------------------------------------------------------------------------------------------


@scenario(
    "attempt-timeout",
    "plain: primary first byte after 5 s, attempt timeout 0.5 s",
    f"200 from secondary in {window(0.5)}",
    router={"timeout_s": 0.5},
)
def _attempt_timeout(ctx: Ctx) -> None:
    ctx.fake("primary").push_fault(Fault("slow_first_byte", delay=5, path=CHAT, times=PERSISTENT))
    seen = ctx.call()
    ctx.client_ok(seen)
    ctx.served_by("secondary")
    ctx.deadline(seen, 0.5, "failed over")
    ctx.hung_up("primary")


@scenario(
    "total-deadline",
    "plain: both answer after 5 s, total deadline 1 s",
    f"504 timeout error in {window(1.0)}",
    router={"timeout_s": 5, "total_timeout_s": 1.0},
)
def _total_deadline(ctx: Ctx) -> None:
    for fake in ctx.ups.fakes.values():
        fake.set_latency(5)
    seen = ctx.call()
    ctx.check(seen.kind == HTTP_ERROR and seen.status in (504, 408), "timeout error (504)", seen.summary())
    ctx.deadline(seen, 1.0, "deadline fired")


@scenario(
    "all-down",
    "plain: both answer 503, 3 requests",
    "clean 503s; 3rd fails fast with Retry-After, no upstream call (breaker: 2 failures)",
    router={"breaker": {"consecutive_failures": 2}},
)
def _all_down(ctx: Ctx) -> None:
    for fake in ctx.ups.fakes.values():
        fake.push_fault(Fault.overloaded(path=CHAT, times=PERSISTENT))
    first, second = ctx.call(), ctx.call()
    before = sum(ctx.all_calls().values())
    last = ctx.call(key=True)
    ctx.check(
        all(s.status == 503 and s.openai_error_shape for s in (first, second)),
        "requests 1 and 2: 503 with an OpenAI error body",
        f"{first.summary()}, {second.summary()}",
    )
    added = sum(ctx.all_calls().values()) - before
    ctx.check(added == 0, "request 3 fails fast: no upstream call", f"{added} calls")
    ctx.check(
        last.status == 503 and last.openai_error_shape, "request 3: 503 with an OpenAI error body", last.summary()
    )
    ctx.check("retry-after" in last.headers, "request 3 has Retry-After")


# --- streams: failover before the first byte ---------------------------------------------------------------------


@scenario("stream-500", "stream: primary answers 500", "complete stream from secondary", mode="stream")
def _stream_500(ctx: Ctx) -> None:
    ctx.fake("primary").push_fault(Fault.server_error(path=CHAT, times=PERSISTENT))
    ctx.client_ok(ctx.call(stream=True))
    ctx.served_by("secondary")


@scenario(
    "stream-cut-early",
    "stream: primary cut after the role chunk, before content",
    "complete stream from secondary",
    mode="stream",
)
def _stream_cut_early(ctx: Ctx) -> None:
    ctx.fake("primary").push_fault(Fault("cut", after_chunks=1, path=CHAT, times=PERSISTENT))
    ctx.client_ok(ctx.call(stream=True))
    ctx.served_by("secondary")


@scenario(
    "ttft",
    "stream: primary sends the role chunk, then stalls 5 s; TTFT deadline 0.5 s",
    f"complete stream from secondary in {window(0.5)}",
    mode="stream",
    router={"ttft_timeout_s": 0.5},
)
def _ttft(ctx: Ctx) -> None:
    ctx.fake("primary").push_fault(Fault("stall", after_chunks=1, delay=5, path=CHAT, times=PERSISTENT))
    seen = ctx.call(stream=True)
    ctx.client_ok(seen)
    ctx.served_by("secondary")
    ctx.deadline(seen, 0.5, "failed over")


# --- streams: failure after content reached the client ------------------------------------------------------------


# Mid-stream faults: the primary sends its chunks 50 ms apart, so the first content really reaches the client
# before the fault (a gateway that reads ahead could otherwise see the fault before sending a byte).
CHUNK_GAP_S = 0.05


def _mid_stream(kind: FaultKind) -> Run:
    def run(ctx: Ctx) -> None:
        ctx.fake("primary").set_chunk_delay(CHUNK_GAP_S)
        ctx.fake("primary").push_fault(Fault(kind, after_chunks=3, path=CHAT, times=PERSISTENT))
        ctx.explicit_error(ctx.call(stream=True))

    return run


MID_STREAM: tuple[tuple[str, str, FaultKind], ...] = (
    ("mid-cut", "stream: primary cut after 3 chunks", "cut"),
    ("mid-malformed", "stream: malformed chunk after 3 chunks", "malformed_chunk"),
    ("mid-error-event", "stream: upstream error event after 3 chunks", "stream_error"),
)
for _key, _title, _kind in MID_STREAM:
    scenario(_key, _title, "content, then an explicit error event", mode="stream")(_mid_stream(_kind))


@scenario(
    "mid-stall",
    "stream: primary stalls 10 s after 3 chunks; stall deadline 0.5 s",
    f"explicit error event {window(0.5)} after the last content",
    mode="stream",
    router={"stall_timeout_s": 0.5},
)
def _mid_stall(ctx: Ctx) -> None:
    ctx.fake("primary").set_chunk_delay(CHUNK_GAP_S)
    ctx.fake("primary").push_fault(Fault("stall", after_chunks=3, delay=10, path=CHAT, times=PERSISTENT))
    seen = ctx.call(stream=True)
    ctx.explicit_error(seen)
    silence = seen.seconds - (seen.last_content_s or 0.0)
    ctx.check(within(silence, 0.5), f"stall deadline fired {window(0.5)} after the last content", f"{silence:.3f} s")
    ctx.hung_up("primary")


# --- fallbacks by error class -------------------------------------------------------------------------------------


@scenario(
    "context-window",
    "plain: context length exceeded",
    "200 from the larger-context group; small not retried",
    groups=lambda ups: {
        "chat": {"deployments": [ups.dep("small")], "fallbacks": {"context_window": ["large_ctx"]}},
        "large_ctx": {"deployments": [ups.dep("large")]},
    },
    fakes=("small", "large"),
)
def _context_window(ctx: Ctx) -> None:
    ctx.fake("small").push_fault(Fault.context_length(path=CHAT, times=PERSISTENT))
    ctx.client_ok(ctx.call())
    ctx.served_by("large")
    ctx.check(ctx.calls("small") == 1, "small called once (the same prompt cannot fit)", f"small {ctx.calls('small')}")


@scenario(
    "content-policy",
    "plain: content policy violation, then a 500",
    "200 from the content-policy group; the 500 (no chain) reaches the client",
    groups=lambda ups: {
        "chat": {"deployments": [ups.dep("strict")], "fallbacks": {"default": [], "content_policy": ["moderated"]}},
        "moderated": {"deployments": [ups.dep("lenient")]},
    },
    fakes=("strict", "lenient"),
)
def _content_policy(ctx: Ctx) -> None:
    ctx.fake("strict").push_fault(Fault.content_policy(path=CHAT))
    ctx.client_ok(ctx.call())
    ctx.served_by("lenient")
    ctx.check(ctx.calls("strict") == 1, "strict called once", f"strict {ctx.calls('strict')}")
    ctx.fake("strict").push_fault(Fault.server_error(path=CHAT, times=PERSISTENT))
    second = ctx.call(key=False)
    ctx.check(
        second.kind == HTTP_ERROR and (second.status or 0) >= 500,
        "500 has no chain: the client hears it",
        second.summary(),
    )
    ctx.check(ctx.calls("lenient") == 1, "lenient not used for the 500", f"lenient {ctx.calls('lenient')}")


# --- latency and load control -------------------------------------------------------------------------------------


@scenario(
    "hedge",
    "plain: primary takes 3 s; hedge after 0.2 s",
    "200 from secondary in < 0.6 s; slow request cancelled",
    router={"hedge": {"enabled": True, "delay_s": 0.2}},
)
def _hedge(ctx: Ctx) -> None:
    ctx.fake("primary").set_latency(3)
    seen = ctx.call()
    ctx.client_ok(seen)
    ctx.served_by("secondary")
    ctx.check(seen.seconds < 0.6, "answered in < 0.6 s", f"{seen.seconds:.3f} s")
    if ctx.served("secondary"):  # a hedge was sent: the losing request must be cancelled upstream
        ctx.hung_up("primary")


BUDGET_REQUESTS, BUDGET_CONCURRENCY, BUDGET_RETRIES = 40, 20, 3
BUDGET_RATIO, BUDGET_FLOOR = 0.2, 2
BUDGET_UPSTREAM_LATENCY_S = 0.1  # the outage answers its 500s after 100 ms, as a struggling provider does
# A correct budget keeps retries < floor + ratio × attempts at every check, so after N requests that each made one
# first attempt: calls - N ≤ floor + ratio × calls + 1 (the last check may pass at the edge).
BUDGET_MAX_CALLS = int((BUDGET_REQUESTS + BUDGET_FLOOR + 1) / (1 - BUDGET_RATIO))


@scenario(
    "retry-budget",
    f"plain: only deployment answers 500 (after 100 ms); {BUDGET_REQUESTS} requests, {BUDGET_CONCURRENCY} at a time; "
    f"num_retries {BUDGET_RETRIES}",
    f"clean 5xx errors; ≤ {BUDGET_MAX_CALLS} upstream calls (retry budget 20 %; without: "
    f"{BUDGET_REQUESTS * (BUDGET_RETRIES + 1)})",
    router={
        "num_retries": BUDGET_RETRIES,
        "breaker": {"enabled": False},
        "retry_budget": {"ratio": BUDGET_RATIO, "min_per_window": BUDGET_FLOOR},
    },
    groups=lambda ups: {"chat": {"deployments": [ups.dep("only")]}},
    fakes=("only",),
)
def _retry_budget(ctx: Ctx) -> None:
    ctx.fake("only").set_latency(BUDGET_UPSTREAM_LATENCY_S)
    ctx.fake("only").push_fault(Fault.server_error(path=CHAT, times=PERSISTENT))
    model = f"{ctx.ups.prefix}chat"
    with ThreadPoolExecutor(BUDGET_CONCURRENCY) as pool:
        results = list(
            pool.map(lambda _: chat(ctx.gateway.base_url, model, timeout=ctx.timeout * 2), range(BUDGET_REQUESTS))
        )
    ctx.seen += results
    ctx.key = results[0]
    ctx.latency_override = statistics.median(s.seconds for s in results)
    ctx.check(
        all(
            s.kind == HTTP_ERROR and s.status is not None and s.status >= 500 and s.openai_error_shape for s in results
        ),
        "every request a clean 5xx error (no healthy candidate)",
        ", ".join(sorted({s.summary() for s in results})),
    )
    calls = ctx.calls("only")
    ctx.check(calls <= BUDGET_MAX_CALLS, f"upstream calls ≤ {BUDGET_MAX_CALLS}", f"{calls} calls")
