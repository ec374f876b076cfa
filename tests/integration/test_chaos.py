"""The chaos suite: faults at the upstreams, and what the client sees and what each upstream received.

Every scenario runs a real gateway process in front of fake OpenAI upstreams with injected faults.
The promise under test: while any healthy candidate exists, the client sees no error (plain requests
and streams before their first byte); a dead deployment gets no more than probe traffic once its
breaker opens; Retry-After is honoured; deadlines fire within 10 % of their setting; a stream that
breaks after its first byte ends with an explicit error, never a silent truncation.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import GatewayFactory
from tests.fakes.openai_upstream import FakeOpenAI, Fault
from tests.gateway_process import free_port
from tests.integration.chaos_support import call, chat_calls, chat_config, deployment, fakes, ordered

CHAT = "/v1/chat/completions"


@pytest.fixture
def two() -> Iterator[list[FakeOpenAI]]:
    yield from fakes(2)


def within(seconds: float, target: float, slack: float = 0.10, overhead: float = 0.15) -> bool:
    """Deadline accuracy: at least the setting, at most 10 % over it (plus fixed local overhead)."""
    return target <= seconds <= target * (1 + slack) + overhead


@pytest.mark.parametrize(
    "fault",
    [
        Fault.server_error(path=CHAT),
        Fault.overloaded(path=CHAT),
        Fault("status", status=502, path=CHAT),
        Fault("drop_connection", path=CHAT),
        Fault("wrong_content_type", path=CHAT),
    ],
)
def test_plain_failover_is_invisible(two: list[FakeOpenAI], start_gateway: GatewayFactory, fault: Fault) -> None:
    primary, secondary = two
    gateway = start_gateway(chat_config(*ordered(two)))
    primary.push_fault(fault)
    outcome = call(gateway)
    assert outcome.status == 200 and outcome.headers["x-switchyard-deployment"] == "secondary"
    assert (chat_calls(primary), chat_calls(secondary)) == (1, 1)


def test_connection_refused_then_breaker_stops_the_traffic(
    two: list[FakeOpenAI], start_gateway: GatewayFactory
) -> None:
    _, secondary = two
    dead = {
        "id": "dead",
        "provider": "openai",
        "model": "m",
        "api_base": f"http://127.0.0.1:{free_port()}/v1",
        "api_key": "sk-x",
        "priority": 10,
    }
    gateway = start_gateway(
        chat_config(
            dead, deployment(secondary, "secondary"), router={"breaker": {"consecutive_failures": 3, "cooldown_s": 60}}
        )
    )
    traces = [call(gateway).headers["x-switchyard-trace"] for _ in range(10)]
    assert all(t.endswith("secondary:ok") for t in traces)
    # Three failures opened the breaker; the other seven requests went straight to the healthy deployment.
    assert sum(t.startswith("dead:") for t in traces) == 3
    assert chat_calls(secondary) == 10


def test_retry_after_is_honoured_on_a_single_deployment(start_gateway: GatewayFactory) -> None:
    with FakeOpenAI(api_key="sk-chaos-0123456789") as only:
        gateway = start_gateway(chat_config(deployment(only, "only"), router={"max_retry_after_s": 5}))
        only.push_fault(Fault.rate_limit(retry_after=1, path=CHAT))
        outcome = call(gateway)
        assert outcome.status == 200 and chat_calls(only) == 2
        assert 1.0 <= outcome.seconds < 1.5


def test_rate_limited_deployment_is_left_alone_for_retry_after(
    two: list[FakeOpenAI], start_gateway: GatewayFactory
) -> None:
    primary, secondary = two
    gateway = start_gateway(chat_config(*ordered(two)))
    primary.push_fault(Fault.rate_limit(retry_after=30, path=CHAT))
    outcomes = [call(gateway) for _ in range(5)]
    assert {o.status for o in outcomes} == {200}
    assert chat_calls(primary) == 1 and chat_calls(secondary) == 5


def test_retry_after_beyond_the_cap_reaches_the_client(start_gateway: GatewayFactory) -> None:
    with FakeOpenAI(api_key="sk-chaos-0123456789") as only:
        gateway = start_gateway(chat_config(deployment(only, "only"), router={"max_retry_after_s": 2}))
        only.push_fault(Fault.rate_limit(retry_after=20, path=CHAT))
        outcome = call(gateway)
        assert outcome.status == 429 and int(outcome.headers["retry-after"]) >= 19
        assert outcome.seconds < 1 and chat_calls(only) == 1
        again = call(gateway)  # cooling down: answered by the gateway, upstream untouched
        assert again.status == 429 and chat_calls(only) == 1


def test_attempt_timeout_fails_over_within_ten_percent(two: list[FakeOpenAI], start_gateway: GatewayFactory) -> None:
    primary, secondary = two
    gateway = start_gateway(chat_config(*ordered(two), router={"timeout_s": 0.5}))
    primary.push_fault(Fault("slow_first_byte", delay=5, path=CHAT))
    outcome = call(gateway)
    assert outcome.status == 200 and outcome.headers["x-switchyard-deployment"] == "secondary"
    assert within(outcome.seconds, 0.5)
    assert primary.wait_for_disconnects(1, timeout=3)  # the abandoned attempt was hung up, not left running


def test_total_deadline_when_everything_is_slow(two: list[FakeOpenAI], start_gateway: GatewayFactory) -> None:
    gateway = start_gateway(chat_config(*ordered(two), router={"timeout_s": 5, "total_timeout_s": 1.0}))
    for fake in two:
        fake.set_latency(5)
    outcome = call(gateway)
    assert outcome.status == 504 and outcome.body["error"]["code"] == "upstream_timeout"
    assert within(outcome.seconds, 1.0)


def test_everything_down_is_a_clean_503_then_fails_fast(two: list[FakeOpenAI], start_gateway: GatewayFactory) -> None:
    gateway = start_gateway(chat_config(*ordered(two), router={"breaker": {"consecutive_failures": 2}}))
    for fake in two:
        fake.push_fault(Fault.overloaded(path=CHAT, times=100))
    first = call(gateway)
    assert first.status == 503 and set(first.body["error"]) == {"message", "type", "param", "code"}
    call(gateway)
    calls = sum(chat_calls(f) for f in two)
    later = call(gateway)
    assert later.status == 503 and later.body["error"]["code"] == "no_healthy_deployment"
    assert "retry-after" in later.headers and sum(chat_calls(f) for f in two) == calls


def test_stream_fails_over_before_the_first_byte(two: list[FakeOpenAI], start_gateway: GatewayFactory) -> None:
    primary, secondary = two
    gateway = start_gateway(chat_config(*ordered(two)))
    primary.push_fault(Fault.server_error(path=CHAT))
    outcome = call(gateway, stream=True)
    assert outcome.status == 200 and outcome.done and outcome.text().startswith("Echo:")
    assert outcome.headers["x-switchyard-deployment"] == "secondary"


@pytest.mark.parametrize(
    "fault", [Fault("cut", after_chunks=1, path=CHAT), Fault("malformed_chunk", after_chunks=0, path=CHAT)]
)
def test_stream_broken_before_content_fails_over(
    two: list[FakeOpenAI], start_gateway: GatewayFactory, fault: Fault
) -> None:
    primary, secondary = two
    gateway = start_gateway(chat_config(*ordered(two)))
    primary.push_fault(fault)
    outcome = call(gateway, stream=True)
    assert outcome.status == 200 and outcome.done and outcome.error_event is None
    assert chat_calls(secondary) == 1


def test_ttft_deadline_fails_over_within_ten_percent(two: list[FakeOpenAI], start_gateway: GatewayFactory) -> None:
    primary, _ = two
    gateway = start_gateway(chat_config(*ordered(two), router={"ttft_timeout_s": 0.5}))
    # The role chunk arrives at once, then nothing: only a deadline on the first real token catches this.
    primary.push_fault(Fault("stall", after_chunks=1, delay=5, path=CHAT))
    outcome = call(gateway, stream=True)
    assert outcome.done and outcome.headers["x-switchyard-deployment"] == "secondary"
    assert within(outcome.seconds, 0.5)


@pytest.mark.parametrize("kind", ["cut", "malformed_chunk", "stream_error"])
def test_mid_stream_failure_ends_with_an_explicit_error(
    two: list[FakeOpenAI], start_gateway: GatewayFactory, kind: str
) -> None:
    primary, secondary = two
    gateway = start_gateway(chat_config(*ordered(two)))
    primary.push_fault(Fault(kind, after_chunks=3, path=CHAT))  # type: ignore[arg-type]
    outcome = call(gateway, stream=True)
    assert outcome.status == 200 and not outcome.done
    assert outcome.error_event is not None and outcome.text()  # content came first, then the error
    assert chat_calls(secondary) == 0  # bytes had reached the client: no silent switch mid-answer


def test_stall_deadline_mid_stream_within_ten_percent(two: list[FakeOpenAI], start_gateway: GatewayFactory) -> None:
    primary, _ = two
    gateway = start_gateway(chat_config(*ordered(two), router={"stall_timeout_s": 0.5}))
    primary.push_fault(Fault("stall", after_chunks=3, delay=10, path=CHAT))
    outcome = call(gateway, stream=True)
    assert not outcome.done and outcome.error_event is not None
    assert outcome.error_event["code"] == "stream_interrupted"
    assert within(outcome.seconds, 0.5)
    assert primary.wait_for_disconnects(1, timeout=3)


def test_context_window_falls_back_to_a_larger_group(two: list[FakeOpenAI], start_gateway: GatewayFactory) -> None:
    small, large = two
    config = chat_config(
        deployment(small, "small"),
        large_ctx={"deployments": [deployment(large, "large")]},
    )
    config["model_groups"]["chat"]["fallbacks"] = {"context_window": ["large_ctx"]}
    gateway = start_gateway(config)
    small.push_fault(Fault.context_length(path=CHAT))
    outcome = call(gateway)
    assert outcome.status == 200 and outcome.headers["x-switchyard-deployment"] == "large"
    assert outcome.headers["x-switchyard-fallbacks"] == "chat>large_ctx:context_window"
    assert chat_calls(small) == 1  # not retried: the same request cannot fit the same window


def test_content_policy_goes_to_its_configured_group(two: list[FakeOpenAI], start_gateway: GatewayFactory) -> None:
    strict, lenient = two
    config = chat_config(deployment(strict, "strict"), moderated={"deployments": [deployment(lenient, "lenient")]})
    config["model_groups"]["chat"]["fallbacks"] = {"default": [], "content_policy": ["moderated"]}
    gateway = start_gateway(config)
    strict.push_fault(Fault.content_policy(path=CHAT))
    assert call(gateway).headers["x-switchyard-deployment"] == "lenient"
    strict.push_fault(Fault.server_error(path=CHAT, times=3))
    assert call(gateway).status == 502  # a server error has no chain configured: the client hears it


def test_hedging_beats_a_slow_tail(two: list[FakeOpenAI], start_gateway: GatewayFactory) -> None:
    primary, secondary = two
    gateway = start_gateway(chat_config(*ordered(two), router={"hedge": {"enabled": True, "delay_s": 0.2}}))
    primary.set_latency(3)
    outcome = call(gateway)
    assert outcome.status == 200 and outcome.headers["x-switchyard-deployment"] == "secondary"
    assert outcome.seconds < 0.6
    assert primary.wait_for_disconnects(1, timeout=3)  # the losing request was cancelled upstream


def test_retry_budget_bounds_upstream_calls_in_an_outage(start_gateway: GatewayFactory) -> None:
    with FakeOpenAI(api_key="sk-chaos-0123456789") as only:
        gateway = start_gateway(
            chat_config(
                deployment(only, "only"),
                router={
                    "num_retries": 3,
                    "breaker": {"enabled": False},
                    "retry_budget": {"ratio": 0.2, "min_per_window": 2},
                },
            )
        )
        only.push_fault(Fault.server_error(path=CHAT, times=1000))
        statuses = [call(gateway).status for _ in range(20)]
        assert set(statuses) == {502}
        # Without a budget: 20 * 4 = 80 calls. With it: the 20 first attempts plus at most 2 + 20 % retries.
        assert chat_calls(only) <= 20 + 2 + 0.2 * chat_calls(only) + 1


def test_retry_budget_holds_under_concurrent_failures(start_gateway: GatewayFactory) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with FakeOpenAI(api_key="sk-chaos-0123456789", latency=0.1) as only:
        gateway = start_gateway(
            chat_config(
                deployment(only, "only"),
                router={
                    "num_retries": 3,
                    "breaker": {"enabled": False},
                    "retry_budget": {"ratio": 0.2, "min_per_window": 2},
                },
            )
        )
        only.push_fault(Fault.server_error(path=CHAT, times=1000))
        with ThreadPoolExecutor(20) as pool:
            statuses = list(pool.map(lambda _: call(gateway).status, range(40)))
        assert set(statuses) == {502}
        # 40 first attempts; retries at most 2 + 20 % of attempts: with a racy budget, 20 concurrent failures
        # would all retry at once.
        first_attempts = 40
        retries = chat_calls(only) - first_attempts
        assert retries <= 2 + 0.2 * chat_calls(only) + 1, chat_calls(only)
