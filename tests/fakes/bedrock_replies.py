"""The fake Bedrock's Converse replies: the deterministic model behind Converse and ConverseStream.

The model calls the tools a user text names (or the one ``toolChoice`` forces), echoes the last user text, counts
images and tool results, honours ``stopSequences`` and ``maxTokens``; a ``Script`` replaces all of that. Imports
nothing from ``switchyard``.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.bedrock_wire import JSON, event_frame, tools_of


@dataclass
class Script:
    """A reply chosen by the test instead of the default one."""

    text: str | None = "Scripted answer."
    tool_uses: list[tuple[str, JSON]] = field(default_factory=list)
    reasoning: str | None = None
    stop_reason: str | None = None
    cache_read: int | None = None
    cache_write: int | None = None


def _sample(schema: JSON) -> Any:
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        return {name: _sample(props.get(name) or {}) for name in schema.get("required") or list(props)}
    return {"string": "example", "integer": 1, "number": 1.5, "boolean": True, "array": []}.get(str(kind), "example")


def plan(body: JSON, script: Script | None) -> tuple[list[JSON], str, JSON]:
    """The reply's content blocks, stop reason and usage."""
    words = sum(len(b["text"].split()) for m in body["messages"] for b in m["content"] if "text" in b)
    words += sum(len(s.get("text", "").split()) for s in body.get("system") or [])
    last = body["messages"][-1]["content"]
    specs, choice = tools_of(body.get("toolConfig")), (body.get("toolConfig") or {}).get("toolChoice", {"auto": {}})
    blocks: list[JSON] = []
    stop = "end_turn"
    if script is not None:
        if script.reasoning:
            blocks.append({"reasoningContent": {"reasoningText": {"text": script.reasoning, "signature": "sig=="}}})
        blocks += [{"text": script.text}] if script.text else []
        calls = script.tool_uses
    else:
        said = " ".join(b["text"] for b in last if "text" in b)
        forced = [
            s for s in specs if "any" in choice and s is specs[0] or s["name"] == choice.get("tool", {}).get("name")
        ]
        mentioned = [s for s in specs if "auto" in choice and s["name"] in said]
        calls = [(s["name"], _sample(s["inputSchema"]["json"])) for s in forced or mentioned]
        if not calls:
            images = [
                f"{b['image']['format']} {len(base64.b64decode(b['image']['source']['bytes']))} bytes"
                for b in last
                if "image" in b
            ]
            results = [
                c.get("text") or json.dumps(c.get("json"))
                for b in last
                if "toolResult" in b
                for c in b["toolResult"]["content"]
            ]
            text = f"You said: {said}" if said else "Hello."
            text += f" I see {len(images)} image(s): {'; '.join(images)}." if images else ""
            text += f" Tool results: {' | '.join(results)}." if results else ""
            config = body.get("inferenceConfig") or {}
            for sequence in config.get("stopSequences", []):
                if sequence in text:
                    text, stop = text[: text.index(sequence)], "stop_sequence"
            limit = config.get("maxTokens")
            if limit is not None and len(text.split()) > limit:
                text, stop = " ".join(text.split()[:limit]), "max_tokens"
            blocks.append({"text": text or "."})
    for n, (name, data) in enumerate(calls):
        blocks.append({"toolUse": {"toolUseId": f"tooluse_{uuid.uuid4().hex[:22]}{n}", "name": name, "input": data}})
    if calls:
        stop = "tool_use"
    if script is not None and script.stop_reason:
        stop = script.stop_reason
    output = sum(len(json.dumps(b).split()) for b in blocks)
    usage: JSON = {"inputTokens": words + 3 * len(body["messages"]), "outputTokens": output}
    if script is not None and script.cache_read is not None:
        usage["cacheReadInputTokens"] = script.cache_read
    if script is not None and script.cache_write is not None:
        usage["cacheWriteInputTokens"] = script.cache_write
    usage["totalTokens"] = sum(usage.values())
    return blocks, stop, usage


def stream_frames(blocks: list[JSON], stop: str, usage: JSON) -> list[bytes]:
    frames = [event_frame("messageStart", {"role": "assistant"})]
    for index, block in enumerate(blocks):
        deltas: list[JSON] = []
        if "text" in block:
            words = block["text"].split(" ")
            deltas = [{"text": w if i == 0 else " " + w} for i, w in enumerate(words)]
        elif "reasoningContent" in block:
            reasoning = block["reasoningContent"]["reasoningText"]
            deltas = [
                {"reasoningContent": {"text": reasoning["text"]}},
                {"reasoningContent": {"signature": reasoning["signature"]}},
            ]
        elif "toolUse" in block:
            use = block["toolUse"]
            start = {"toolUse": {"toolUseId": use["toolUseId"], "name": use["name"]}}
            frames.append(event_frame("contentBlockStart", {"start": start, "contentBlockIndex": index}))
            raw = json.dumps(use["input"])
            cut = len(raw) // 2
            deltas = [{"toolUse": {"input": piece}} for piece in (raw[:cut], raw[cut:]) if piece]
        for n, delta in enumerate(deltas):
            frames.append(event_frame("contentBlockDelta", {"delta": delta, "contentBlockIndex": index}, n))
        frames.append(event_frame("contentBlockStop", {"contentBlockIndex": index}))
    frames.append(event_frame("messageStop", {"stopReason": stop}))
    frames.append(event_frame("metadata", {"usage": usage, "metrics": {"latencyMs": 42}}))
    return frames
