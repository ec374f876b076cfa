"""Cost arithmetic: usage × price for every token class.

OpenAI's usage counts cached and cache-written prompt tokens inside ``prompt_tokens`` and reasoning tokens
inside ``completion_tokens``; the adapters report every provider's usage that way. So each class is
carved out of its total and priced on its own, and nothing is counted twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from switchyard.accounting.pricing import Price
from switchyard.types.chat import Usage

_M = 1_000_000


@dataclass(frozen=True, slots=True)
class Cost:
    input: float
    cache_read: float
    cache_write: float
    output: float
    reasoning: float
    per_request: float

    @property
    def total(self) -> float:
        return self.input + self.cache_read + self.cache_write + self.output + self.reasoning + self.per_request


def cost_of(usage: Usage, price: Price) -> Cost:
    prompt = usage.prompt_tokens
    details = usage.prompt_tokens_details
    cached = min(prompt, (details.cached_tokens or 0) if details else 0)
    written = min(prompt - cached, (details.cache_creation_tokens or 0) if details else 0)
    completion = usage.completion_tokens
    output_details = usage.completion_tokens_details
    reasoning = min(completion, (output_details.reasoning_tokens or 0) if output_details else 0)
    return Cost(
        input=(prompt - cached - written) * price.input / _M,
        cache_read=cached * price.cache_read / _M,
        cache_write=written * price.cache_write / _M,
        output=(completion - reasoning) * price.output / _M,
        reasoning=reasoning * price.reasoning / _M,
        per_request=price.per_request,
    )
