"""What may be cached, and for how long.

By default (``only_deterministic``) only requests whose answer is meant to be reproducible are stored: those
with ``temperature`` 0, or a single choice (``n`` unset or 1) with a ``seed``. A request at the provider's default
temperature asks for variety, and serving it one frozen answer forever would change its meaning. Operators who
want every answer reused turn the check off.

Answers that call tools are not stored by default (``cache_tool_calls``): a tool call usually acts on the world
(book, pay, send), and replaying the call without the model deciding again would repeat a side effect the caller
may not expect. Where tool calls cannot be seen (a native stream format) the request's offer of tools decides.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from switchyard.config.cache import CacheSettings, GroupCacheSettings
from switchyard.types.chat import ChatRequest


@dataclass(frozen=True, slots=True)
class CachePolicy:
    enabled: bool = True
    ttl_s: int = 3600
    only_deterministic: bool = True
    cache_tool_calls: bool = False

    def cacheable(self, request: ChatRequest) -> bool:
        """Whether this request's answer may be looked up and stored at all."""
        if not self.enabled:
            return False
        if not self.only_deterministic:
            return True
        if request.temperature == 0:
            return True
        return (request.n is None or request.n == 1) and request.seed is not None

    def storable_reply(self, request: ChatRequest, body: bytes, format: str | None) -> bool:
        """Whether a plain answer may be stored (the tool-call rule; errors never reach here)."""
        if self.cache_tool_calls or not request.tools:
            return True
        if format is not None:
            return False  # a native body we do not read: the offer of tools is enough to refuse
        return not calls_tools(body)

    def storable_stream(self, request: ChatRequest, saw_tool_call: bool, format: str | None) -> bool:
        if self.cache_tool_calls or not request.tools:
            return True
        return format is None and not saw_tool_call


def resolve(settings: CacheSettings, group: GroupCacheSettings | None) -> CachePolicy:
    """The policy for one model group: the global settings with the group's overrides on top."""

    def pick(override: bool | int | None, default: bool | int) -> bool | int:
        return default if override is None else override

    if group is None:
        group = GroupCacheSettings()
    return CachePolicy(
        enabled=bool(pick(group.enabled, settings.enabled)),
        ttl_s=int(pick(group.ttl_s, settings.ttl_s)),
        only_deterministic=bool(pick(group.only_deterministic, settings.only_deterministic)),
        cache_tool_calls=bool(pick(group.cache_tool_calls, settings.cache_tool_calls)),
    )


class _Message(msgspec.Struct):
    tool_calls: list[msgspec.Raw] | None = None
    function_call: msgspec.Raw | None = None


class _Choice(msgspec.Struct):
    message: _Message | None = None


class _Answer(msgspec.Struct):
    choices: list[_Choice] | None = None


_answer = msgspec.json.Decoder(_Answer)


def calls_tools(body: bytes) -> bool:
    """Whether an OpenAI-format answer calls a tool (an unreadable body counts as one: do not store it)."""
    try:
        answer = _answer.decode(body)
    except msgspec.DecodeError:
        return True
    for choice in answer.choices or ():
        message = choice.message
        if message is not None and (message.tool_calls or message.function_call is not None):
            return True
    return False
