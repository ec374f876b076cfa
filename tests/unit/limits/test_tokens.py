"""Token counting against counts OpenAI published, and the documented fallbacks."""

from __future__ import annotations

import msgspec
import pytest

from switchyard.accounting.tokens import IMAGE_LOW, IMAGE_MAX, TokenCounter, encoding_for_model, estimate
from switchyard.types.chat import ChatRequest
from switchyard.types.embeddings import EmbeddingRequest

# The example of OpenAI's cookbook "How to count tokens with tiktoken", whose API-reported prompt tokens are
# 129 for gpt-3.5-turbo / gpt-4 (cl100k_base) and 124 for gpt-4o (o200k_base).
COOKBOOK = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates corporate jargon "
        "into plain English.",
    },
    {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
    {"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more bandwidth to touch base on opportunities "
        "for increased leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the client deliverable.",
    },
]


def chat(messages: list[dict[str, object]], **extra: object) -> ChatRequest:
    return msgspec.convert({"model": "m", "messages": messages, **extra}, ChatRequest)


@pytest.fixture(scope="module")
def counter() -> TokenCounter:
    counter = TokenCounter()
    if not counter.exact:
        pytest.skip("bpe-openai is not installed")
    return counter


def test_cookbook_counts_match_what_openai_reported(counter: TokenCounter) -> None:
    request = chat(COOKBOOK)
    assert counter.chat(request, "cl100k_base") == 129
    assert counter.chat(request, "o200k_base") == 124


def test_known_text_counts(counter: TokenCounter) -> None:
    # tiktoken's README example: "tiktoken is great!" is six tokens in cl100k_base.
    assert counter.text("tiktoken is great!", "cl100k_base") == 6
    assert counter.text("hello world", "o200k_base") == 2
    assert counter.text("", "o200k_base") == 0


def test_framing_per_message_and_reply(counter: TokenCounter) -> None:
    # 3 to prime the reply, then per message 3 of framing + the role (1) + the content.
    one = chat([{"role": "user", "content": "hello world"}])
    assert counter.chat(one) == 3 + 3 + 1 + 2
    named = chat([{"role": "user", "content": "hello world", "name": "bob"}])
    assert counter.chat(named) == counter.chat(one) + 1 + counter.text("bob")


def test_images_are_counted_conservatively(counter: TokenCounter) -> None:
    def image(detail: str | None) -> ChatRequest:
        url: dict[str, object] = {"url": "https://example.com/cat.png"}
        if detail:
            url["detail"] = detail
        return chat([{"role": "user", "content": [{"type": "image_url", "image_url": url}]}])

    base = counter.chat(chat([{"role": "user", "content": []}]))
    assert counter.chat(image("low")) == base + IMAGE_LOW
    assert counter.chat(image("high")) == base + IMAGE_MAX
    assert counter.chat(image(None)) == base + IMAGE_MAX


def test_tools_tool_calls_and_schemas_add_tokens(counter: TokenCounter) -> None:
    plain = chat([{"role": "user", "content": "weather?"}])
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    with_tools = chat([{"role": "user", "content": "weather?"}], tools=tools)
    assert counter.chat(with_tools) > counter.chat(plain) + counter.text("get_weather")
    call = {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
    history = chat(
        [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        ]
    )
    assert counter.chat(history) >= counter.chat(plain) + counter.text('{"city": "Paris"}') + counter.text("sunny")


def test_lone_surrogates_do_not_raise(counter: TokenCounter) -> None:
    request = chat([{"role": "user", "content": "bad \ud800 text"}])  # msgspec decodes no lone surrogate; code may
    assert counter.chat(request) > 7


def test_embeddings_count_strings_and_token_ids(counter: TokenCounter) -> None:
    assert counter.embedding(EmbeddingRequest(model="e", input="hello world")) == 2
    assert counter.embedding(EmbeddingRequest(model="e", input=["hello world", "hello"])) == 3
    assert counter.embedding(EmbeddingRequest(model="e", input=[[1, 2, 3], [4]])) == 4
    assert counter.embedding(EmbeddingRequest(model="e", input=[5, 6])) == 2


def test_fallback_is_four_characters_a_token() -> None:
    counter = TokenCounter(use_tokenizer=False)
    assert not counter.exact
    assert counter.text("abcdefghi") == 3 == estimate("abcdefghi")
    assert counter.chat(chat([{"role": "user", "content": "abcdefgh"}])) == 3 + 3 + estimate("user") + 2


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o-mini", "o200k_base"),
        ("gpt-4.1", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-4-turbo", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
        ("openai/gpt-4-0613", "cl100k_base"),
        ("text-embedding-3-small", "cl100k_base"),
        ("claude-3-5-sonnet", "o200k_base"),
    ],
)
def test_vocabulary_per_model_family(model: str, encoding: str) -> None:
    assert encoding_for_model(model) == encoding


def test_huge_prompts_are_extrapolated_past_the_exact_prefix(counter: TokenCounter) -> None:
    text = "The quick brown fox jumps over the lazy dog, again and again; " * 4000  # 248k characters
    exact = counter.text(text)
    counted = counter.chat(chat([{"role": "user", "content": text}])) - (3 + 3 + 1)
    assert counted != exact  # the tail was extrapolated, not tokenized
    assert abs(counted - exact) <= exact * 0.02
    short = chat([{"role": "user", "content": "hello world"}])
    assert counter.chat(short) == 9  # a request under the exact budget is exact
