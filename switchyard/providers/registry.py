"""Every provider the gateway knows, by the name used in config. Adding one is one line here."""

from __future__ import annotations

from functools import partial

from switchyard.providers._openai_compat import OpenAICompatProvider, OpenAICompatSpec
from switchyard.providers.anthropic import AnthropicProvider
from switchyard.providers.azure import AzureOpenAIProvider
from switchyard.providers.base import ProviderFactory
from switchyard.providers.bedrock import BedrockProvider
from switchyard.providers.cohere import CohereProvider
from switchyard.providers.demo import DemoProvider
from switchyard.providers.gemini import GeminiProvider
from switchyard.providers.mistral import MistralProvider
from switchyard.providers.ollama import OllamaProvider


def _compat(name: str, api_base: str | None, *, requires_api_key: bool = True) -> ProviderFactory:
    return partial(OpenAICompatProvider, OpenAICompatSpec(name, api_base, requires_api_key=requires_api_key))


PROVIDERS: dict[str, ProviderFactory] = {
    "demo": DemoProvider,
    "anthropic": AnthropicProvider,
    "bedrock": BedrockProvider,
    "gemini": GeminiProvider,
    "azure": AzureOpenAIProvider,
    "mistral": MistralProvider,
    "cohere": CohereProvider,
    "ollama": OllamaProvider,
    "openai": _compat("openai", "https://api.openai.com/v1"),
    # Any server speaking the OpenAI API; api_base is required and a key is optional.
    "openai_compatible": _compat("openai_compatible", None, requires_api_key=False),
    "vllm": _compat("vllm", None, requires_api_key=False),
    "lmstudio": _compat("lmstudio", "http://localhost:1234/v1", requires_api_key=False),
    "groq": _compat("groq", "https://api.groq.com/openai/v1"),
    "together": _compat("together", "https://api.together.xyz/v1"),
    "deepseek": _compat("deepseek", "https://api.deepseek.com/v1"),
    "fireworks": _compat("fireworks", "https://api.fireworks.ai/inference/v1"),
    "openrouter": _compat("openrouter", "https://openrouter.ai/api/v1"),
    "xai": _compat("xai", "https://api.x.ai/v1"),
}
