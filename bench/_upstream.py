"""The fake OpenAI upstream: nginx returning fixed ``chat.completion`` and ``chat.completion.chunk`` bodies."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from string import Template

from _harness import Managed, Processes, free_port, http_request, log, nginx_binary, wait_until

TEMPLATE = Path(__file__).with_name("nginx.conf.tmpl")
PLAIN_PATH = "/v1/chat/completions"
STREAM_PATH = "/stream/v1/chat/completions"
MODEL = "gpt-4o-mini-2024-07-18"
CREATED = 1732400000
REPLY = "Hello there! It is nice to meet you, and I hope your day is going really well so far today."
PROMPT_TOKENS = 14


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def chat_body() -> str:
    words = REPLY.split(" ")
    return _json(
        {
            "id": "chatcmpl-bench0000000000000000000001",
            "object": "chat.completion",
            "created": CREATED,
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": REPLY, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": PROMPT_TOKENS,
                "completion_tokens": len(words),
                "total_tokens": PROMPT_TOKENS + len(words),
            },
            "system_fingerprint": "fp_bench",
        }
    )


def stream_events() -> list[str]:
    """~20 content chunks, a finish chunk, a usage chunk (``choices: []``) and ``[DONE]``, as SSE events."""
    words = REPLY.split(" ")
    base = {"id": "chatcmpl-bench0000000000000000000002", "object": "chat.completion.chunk", "created": CREATED}
    base |= {"model": MODEL, "system_fingerprint": "fp_bench"}

    def chunk(delta: dict[str, str], finish: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return _json({**base, "choices": [choice]})

    events = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": word if i == 0 else " " + word}) for i, word in enumerate(words)]
    events.append(chunk({}, "stop"))
    usage = {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": len(words)}
    usage["total_tokens"] = PROMPT_TOKENS + len(words)
    events.append(_json({**base, "choices": [], "usage": usage}))
    events.append("[DONE]")
    return events


def stream_body() -> str:
    return "".join(f"data: {event}\n\n" for event in stream_events())


def _nginx_literal(text: str) -> str:
    """Text for a single-quoted nginx string: no quote, backslash or $ (a variable), newlines as \\n."""
    for bad in ("'", "\\", "$"):
        if bad in text:
            raise ValueError(f"fixed body must not contain {bad!r}")
    return text.replace("\n", "\\n")


def _stream_directives(indent: str = "            ") -> str:
    """``set $sse_N '...';`` lines (each under nginx's 4 KB token limit) and a ``return`` joining them."""
    parts: list[str] = []
    for event in stream_events():
        piece = _nginx_literal(f"data: {event}\n\n")
        if parts and len(parts[-1]) + len(piece) < 3500:
            parts[-1] += piece
        else:
            parts.append(piece)
    lines = [f"{indent}set $sse_{i} '{part}';" for i, part in enumerate(parts)]
    joined = "".join(f"${{sse_{i}}}" for i in range(len(parts)))
    return "\n".join([*lines, f"{indent}return 200 '{joined}';"])


@dataclass
class Upstream:
    proc: Managed
    port: int
    binary: str
    first_answer_s: float

    @property
    def plain_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def stream_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream/v1"


def start_nginx(procs: Processes, prefix: Path, cpu: int) -> Upstream:
    binary = nginx_binary()
    if binary is None:
        raise RuntimeError("nginx not found")
    (prefix / "tmp").mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = Template(TEMPLATE.read_text()).substitute(
        prefix=prefix, port=port, chat_body=_nginx_literal(chat_body()), stream_directives=_stream_directives()
    )
    conf_path = prefix / "nginx.conf"
    conf_path.write_text(conf)
    argv = [binary, "-p", str(prefix), "-c", str(conf_path), "-e", str(prefix / "error.log")]
    proc = procs.spawn("nginx", argv, cpu)

    def ready() -> bool:
        status, body = http_request(port, "POST", PLAIN_PATH, b"{}", timeout=2)
        return status == 200 and body.decode() == chat_body()

    first_answer_s = wait_until(ready, 15, "nginx", proc) - proc.started_at
    status, body = http_request(port, "POST", STREAM_PATH, b"{}", timeout=2)
    if status != 200 or body.decode() != stream_body():
        raise RuntimeError(f"nginx stream location answered {status} with an unexpected body")
    log(f"fake upstream: nginx on 127.0.0.1:{port} (pid {proc.pid}, CPU {cpu})")
    return Upstream(proc, port, binary, first_answer_s)
