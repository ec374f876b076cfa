"""Per-request routing inputs: what the caller asked for (pins, deadlines) and what the request needs."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from switchyard.types.chat import ChatRequest, ImagePart


@dataclass(frozen=True, slots=True)
class RouteOptions:
    """Overrides a caller may send with a request (as ``x-switchyard-*`` headers)."""

    pin: str | None = None  # serve only from this deployment id
    exclude: frozenset[str] = field(default_factory=frozenset)
    num_retries: int | None = None
    timeout_s: float | None = None
    total_timeout_s: float | None = None
    ttft_timeout_s: float | None = None
    stall_timeout_s: float | None = None
    # Router groups, for this request only: a target share of strong calls or a score threshold (two members),
    # or a cost weight (many).
    strong_share: float | None = None
    router_threshold: float | None = None
    cost_weight: float | None = None


DEFAULT_OPTIONS = RouteOptions()


@dataclass(frozen=True, slots=True)
class RequestShape:
    """What a request needs from a deployment, for the capability filter and cost- or usage-aware ranking."""

    prompt_tokens: int = 0
    max_output_tokens: int = 0
    tools: bool = False
    vision: bool = False
    json_schema: bool = False


EMBEDDING_SHAPE = RequestShape()


def shape_of(request: ChatRequest) -> RequestShape:
    chars = 0
    vision = False
    for message in request.messages:
        content = message.content
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            for part in content:
                text = getattr(part, "text", None)
                if text:
                    chars += len(text)
                elif isinstance(part, ImagePart):
                    vision = True
    if request.tools:
        chars += sum(len(str(tool.function.parameters or "")) + len(tool.function.name) for tool in request.tools)
    fmt = request.response_format
    return RequestShape(
        # About four characters a token plus framing per message: an estimate for routing, not for billing.
        prompt_tokens=math.ceil(chars / 4) + 4 * len(request.messages),
        max_output_tokens=request.max_completion_tokens or request.max_tokens or 0,
        tools=bool(request.tools),
        vision=vision,
        json_schema=fmt is not None and fmt.type == "json_schema",
    )
