"""The gateway in front of a fake Gemini API, driven by the official OpenAI SDK: the documented request, streams,
JSON modes, cached and reasoning usage, n candidates, finish reasons and safety."""

from __future__ import annotations

import json

from tests.fakes.gemini_upstream import FakeGemini
from tests.gateway_process import GatewayProcess
from tests.providers.gemini.support import CONVERSATION, KEY, MESSAGES, post, sdk, stream_events


def test_plain_chat_sends_the_documented_request(fake: FakeGemini, gateway: GatewayProcess) -> None:
    reply = sdk(gateway).chat.completions.create(
        model="gem",
        messages=CONVERSATION,  # type: ignore[arg-type]
        temperature=0.2,
        top_p=0.9,
        max_tokens=50,
        stop="zzz",
        seed=7,
        user="u-1",
        parallel_tool_calls=False,
    )
    choice = reply.choices[0]
    assert choice.message.content == "Echo: What is a gateway?" and choice.finish_reason == "stop"
    assert reply.model == "gemini-2.5-flash" and reply.id.startswith("chatcmpl-")
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.total_tokens) == (12, 5, 17)
    sent = fake.last
    assert sent.path == "/v1beta/models/gemini-2.5-flash:generateContent" and sent.query == {}
    assert sent.headers["x-goog-api-key"] == KEY and "authorization" not in sent.headers
    assert sent.json == {
        "contents": [
            {"role": "user", "parts": [{"text": "Hello there"}]},
            {"role": "model", "parts": [{"text": "Hi!"}]},
            {"role": "user", "parts": [{"text": "What is"}, {"text": "a gateway?"}]},
        ],
        "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "Stay on topic."}]},
        "generationConfig": {
            "temperature": 0.2,
            "topP": 0.9,
            "seed": 7,
            "maxOutputTokens": 50,
            "stopSequences": ["zzz"],
        },
    }


def test_stream_matches_the_plain_answer(fake: FakeGemini, gateway: GatewayProcess) -> None:
    plain = sdk(gateway).chat.completions.create(model="gem", messages=CONVERSATION)  # type: ignore[arg-type]
    chunks = list(
        sdk(gateway).chat.completions.create(
            model="gem",
            messages=CONVERSATION,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert fake.last.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    assert fake.last.query == {"alt": "sse"} and fake.last.headers["x-goog-api-key"] == KEY
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"] and len({c.id for c in chunks}) == 1
    assert chunks[-1].choices == [] and chunks[-1].usage == plain.usage
    hidden = list(sdk(gateway).chat.completions.create(model="gem", messages=MESSAGES, stream=True))  # type: ignore[arg-type]
    assert all(c.choices for c in hidden) and all(c.usage is None for c in hidden)


def test_json_modes(fake: FakeGemini, gateway: GatewayProcess) -> None:
    plain = sdk(gateway).chat.completions.create(
        model="gem",
        messages=MESSAGES,
        response_format={"type": "json_object"},  # type: ignore[arg-type]
    )
    assert json.loads(plain.choices[0].message.content or "") == {"answer": "Echo: What is a gateway?"}
    assert fake.last.json["generationConfig"] == {"responseMimeType": "application/json"}
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "temp": {"type": "number"}},
        "required": ["city", "temp"],
        "additionalProperties": False,
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "weather", "strict": True, "schema": schema}}
    shaped = sdk(gateway).chat.completions.create(model="gem", messages=MESSAGES, response_format=fmt)  # type: ignore[arg-type]
    assert json.loads(shaped.choices[0].message.content or "") == {"city": "example", "temp": 1.5}
    assert fake.last.json["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseSchema": {
            "type": "OBJECT",
            "properties": {"city": {"type": "STRING"}, "temp": {"type": "NUMBER"}},
            "required": ["city", "temp"],
        },
    }


def test_cached_and_reasoning_usage_plain_and_streamed(fake: FakeGemini, gateway: GatewayProcess) -> None:
    fake.cached_tokens = 3
    reply = sdk(gateway).chat.completions.create(model="gem", messages=MESSAGES, reasoning_effort="low")
    assert fake.last.json["generationConfig"] == {"thinkingConfig": {"includeThoughts": True, "thinkingBudget": 1024}}
    message = reply.choices[0].message
    assert message.content == "Echo: What is a gateway?"
    assert message.model_extra and message.model_extra["reasoning_content"] == "Thinking it over step by step."
    usage = reply.usage
    assert usage is not None and usage.prompt_tokens_details and usage.completion_tokens_details
    assert usage.prompt_tokens_details.cached_tokens == 3 and usage.completion_tokens_details.reasoning_tokens == 6
    # Thinking is billed as output, so it is inside completion_tokens as OpenAI counts reasoning.
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (4, 11, 15)
    events = stream_events(gateway, reasoning_effort="low", stream_options={"include_usage": True})
    thoughts = "".join(e["choices"][0]["delta"].get("reasoning_content", "") for e in events if e["choices"])
    assert thoughts == "Thinking it over step by step." and events[-1]["usage"] == usage.model_dump(exclude_none=True)


def test_n_candidates_plain_and_streamed(fake: FakeGemini, gateway: GatewayProcess) -> None:
    reply = sdk(gateway).chat.completions.create(model="gem", messages=MESSAGES, n=2)
    assert [c.index for c in reply.choices] == [0, 1]
    assert reply.choices[1].message.content == "Echo: What is a gateway? (variant 1)"
    assert fake.last.json["generationConfig"] == {"candidateCount": 2}
    events = stream_events(gateway, n=2)
    texts = {0: "", 1: ""}
    for event in events:
        for choice in event["choices"]:
            texts[choice["index"]] += choice["delta"].get("content", "")
    assert texts == {0: reply.choices[0].message.content, 1: reply.choices[1].message.content}


def test_finish_reasons_and_safety(fake: FakeGemini, gateway: GatewayProcess) -> None:
    capped = sdk(gateway).chat.completions.create(model="capped", messages=MESSAGES)
    assert capped.choices[0].finish_reason == "length" and capped.choices[0].message.content == "Echo: What"
    assert fake.last.json["generationConfig"] == {"maxOutputTokens": 2}
    unsafe = sdk(gateway).chat.completions.create(model="gem", messages=[{"role": "user", "content": "UNSAFE"}])
    assert unsafe.choices[0].finish_reason == "content_filter" and unsafe.choices[0].message.content is None
    events = stream_events(gateway, messages=[{"role": "user", "content": "UNSAFE"}])
    assert [e["choices"][0]["finish_reason"] for e in events] == [None, "content_filter"]
    blocked = [{"role": "user", "content": "BLOCKME"}]
    for stream in (False, True):
        response = post(gateway, messages=blocked, stream=stream)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "content_policy_violation"
