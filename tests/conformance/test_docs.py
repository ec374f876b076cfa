"""docs/providers.md stays true: its matrix is the declared one, its config is valid, its one-line provider works."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import msgspec
import pytest

from switchyard.config import load_config
from switchyard.config.schema import Deployment, RouterSettings
from switchyard.providers import registry
from switchyard.providers._openai_compat import OpenAICompatProvider
from switchyard.providers.base import ChatCall, ProviderContext, Reply
from switchyard.routing.build import build_groups
from switchyard.transport import HttpTransport
from switchyard.transport.guarded import GuardedFetcher
from switchyard.types.chat import ChatRequest
from tests.conformance import report
from tests.conformance.rows import ROOT
from tests.fakes.openai_upstream import FakeOpenAI

DOC = ROOT / "docs" / "providers.md"
FIX = "python -m tests.conformance.report --write docs/providers.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), flags=re.DOTALL)


def test_the_docs_show_the_declared_matrix() -> None:
    assert report.block() in DOC.read_text(), f"docs/providers.md's matrix is stale: run `{FIX}`"


def test_the_config_example_passes_config_check(tmp_path: Path) -> None:
    (example,) = blocks("yaml")
    path = tmp_path / "providers.yaml"
    path.write_text(example)
    env = {name: "secret-value" for name in re.findall(r"os\.environ/(\w+)", example)}
    config = load_config(path, env=env)
    context = ProviderContext(HttpTransport(), config.router, GuardedFetcher(max_bytes=1, timeout_s=1), 1)
    groups = build_groups(config, registry.PROVIDERS, context)  # what `switchyard config check` does
    providers = {d.provider for group in config.model_groups.values() for d in group.deployments}
    assert len(groups) == 1 and providers == {
        "openai", "azure", "anthropic", "gemini", "bedrock", "mistral", "cohere", "ollama", "openai_compatible"
    }  # fmt: skip


@pytest.mark.parametrize("entry", re.findall(r'"(\w+)": (_compat\(.*\)),', blocks("python")[0]))
def test_the_one_line_provider_serves_a_chat(entry: tuple[str, str]) -> None:
    name, expression = entry
    factory = eval(expression, {"_compat": registry._compat})  # the registry line, as the docs write it
    assert name not in registry.PROVIDERS, "the docs' example should be a provider the registry lacks"

    async def ask(fake: FakeOpenAI) -> bytes:
        transport = HttpTransport()
        context = ProviderContext(transport, RouterSettings(), GuardedFetcher(max_bytes=1, timeout_s=1), 1)
        deployment = Deployment(provider=name, model="gpt-4o-mini", api_base=fake.base_url, api_key="sk-any")
        provider = factory(deployment, context)
        assert isinstance(provider, OpenAICompatProvider)
        body = b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}'
        try:
            reply = await provider.chat(ChatCall(msgspec.json.decode(body, type=ChatRequest), body))
        finally:
            await transport.close()
        assert isinstance(reply, Reply)
        return reply.body

    with FakeOpenAI(api_key=None) as fake:
        answer = msgspec.json.decode(asyncio.run(ask(fake)))
    assert answer["choices"][0]["message"]["content"] == "Echo: hi"
