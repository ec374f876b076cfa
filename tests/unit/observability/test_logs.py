"""JSON logs: one object per line, with the request id bound to the current context."""

from __future__ import annotations

import asyncio
import io
import json
import logging

from switchyard.observability.logs import JsonFormatter, RequestIdFilter, bind_request_id


def capture() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger(f"test.json.{id(stream)}")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


def test_each_request_logs_its_own_id_even_when_interleaved() -> None:
    logger, stream = capture()

    async def serve(request_id: str) -> None:
        bind_request_id(request_id)
        await asyncio.sleep(0)
        logger.info("handled %s", request_id, extra={"status": 200})

    async def both() -> None:
        await asyncio.gather(serve("req-a"), serve("req-b"))

    asyncio.run(both())
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert {(line["request_id"], line["message"]) for line in lines} == {
        ("req-a", "handled req-a"),
        ("req-b", "handled req-b"),
    }
    assert all(line["level"] == "info" and line["status"] == 200 and line["ts"].endswith("Z") for line in lines)


def test_exceptions_are_one_line_of_json() -> None:
    logger, stream = capture()
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("failed")
    (line,) = stream.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["message"] == "failed" and "ValueError: boom" in entry["exc_info"]
