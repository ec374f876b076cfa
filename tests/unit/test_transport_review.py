"""Races and edge cases in the upstream HTTP/1.1 client, each found in review and pinned here.

Raw asyncio servers on loopback write exact bytes. Where a race needs two things to happen in one event-loop
iteration (an answer's last bytes and its timer, or a cancellation), the test makes the second happen right
after the client's ``data_received`` returns, which is exactly where the loop would run it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from switchyard import errors
from switchyard.transport import HttpTransport, Timeouts
from switchyard.transport.connection import Connection, Exchange
from tests.unit.test_transport_wire import Handler, read_request, run, serve

T = Timeouts(5, 5)
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def after_first_answer(monkeypatch: pytest.MonkeyPatch, hook: Callable[[Connection], object]) -> None:
    """Run ``hook`` once, straight after the read that completes the first response."""
    original = Connection.data_received
    fired: list[int] = []

    def data_received(self: Connection, data: bytes) -> None:
        exchange = self._exchange
        original(self, data)
        if not fired and exchange is not None and exchange.complete:
            fired.append(1)
            hook(self)

    monkeypatch.setattr(Connection, "data_received", data_received)


async def one_at_a_time_server() -> tuple[asyncio.Server, int, list[int], list[int]]:
    """A keep-alive server answering "ok"; also reports the most requests it ever had in flight at once."""
    active = [0, 0]  # now, most

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            active[0] += 1
            active[1] = max(active)
            await asyncio.sleep(0.05)
            active[0] -= 1
            writer.write(OK)
            await writer.drain()

    server, port, connections = await serve(handler)
    return server, port, connections, active


def test_a_call_cancelled_while_its_connection_opens_frees_its_slot_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # Cancelled after the socket connected but before create_connection returned: the pool frees the slot, and
    # asyncio (not uvloop) then also reports connection_lost for the transport it closed, which must not free it again.
    async def main() -> None:
        server, port, _, active = await one_at_a_time_server()
        transport = HttpTransport()
        url = f"http://127.0.0.1:{port}/"
        original = Connection.connection_made
        victim: list[asyncio.Task[object]] = []

        def connection_made(self: Connection, raw: asyncio.BaseTransport) -> None:
            original(self, raw)
            if victim:
                victim.pop().cancel()

        monkeypatch.setattr(Connection, "connection_made", connection_made)
        task: asyncio.Task[object] = asyncio.create_task(transport.post(url, b"", {}, T, max_connections=1))
        victim.append(task)
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.05)  # the closed transport reports connection_lost
        results = await asyncio.gather(*[transport.post(url, b"", {}, T, max_connections=1) for _ in range(4)])
        assert [r.body for r in results] == [b"ok"] * 4
        assert active[1] == 1  # the limit of one connection still holds
        await transport.close()
        server.close()

    run(main)


def test_an_answer_completing_as_its_timer_fires_leaves_the_pooled_connection_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The last bytes and the deadline land in one loop iteration: I/O callbacks run before due timers, so the
    # exchange is complete (and its connection already handed to the next caller) when the timer runs.
    pending: list[Exchange] = []  # the first call's exchange
    after_first_answer(monkeypatch, lambda connection: pending[0].expire())

    async def main() -> None:
        server, port, connections, _ = await one_at_a_time_server()
        transport = HttpTransport()
        url = f"http://127.0.0.1:{port}/"
        original_send = Connection.send

        def send(self: Connection, data: bytes | tuple[bytes, bytes], streaming: bool) -> Exchange:
            exchange = original_send(self, data, streaming)
            if not pending:
                pending.append(exchange)
            return exchange

        monkeypatch.setattr(Connection, "send", send)
        first = await asyncio.gather(*[transport.post(url, b"", {}, T, max_connections=1) for _ in range(2)])
        assert [r.body for r in first] == [b"ok", b"ok"]  # the second call got the handed-on connection intact
        assert len(connections) == 1
        await transport.close()
        server.close()

    run(main)


def test_a_call_cancelled_as_its_answer_completes_leaves_the_pooled_connection_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Hedging cancels the loser; if its answer has just completed, its connection is already someone else's.
    tasks: list[asyncio.Task[object]] = []
    after_first_answer(monkeypatch, lambda connection: tasks[0].cancel())

    async def main() -> None:
        server, port, connections, _ = await one_at_a_time_server()
        transport = HttpTransport()
        url = f"http://127.0.0.1:{port}/"
        tasks.append(asyncio.create_task(transport.post(url, b"", {}, T, max_connections=1)))
        await asyncio.sleep(0)
        second = asyncio.create_task(transport.post(url, b"", {}, T, max_connections=1))
        with pytest.raises(asyncio.CancelledError):
            await tasks[0]
        assert (await second).body == b"ok"
        assert len(connections) == 1
        await transport.close()
        server.close()

    run(main)


def test_a_stream_that_completes_while_paused_does_not_pool_a_paused_connection() -> None:
    # The read that completes the body also crosses the high-water mark: the socket is paused, and a stream
    # closed without reading further must not hand that paused connection to the next call.
    blob = b"x" * ((1 << 20) + 1)
    response = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(blob), blob)

    async def main() -> None:
        server, port, connections = await serve(_keep_serving([response, OK]))
        transport = HttpTransport()
        url = f"http://127.0.0.1:{port}/"
        stream = await transport.open_stream(url, b"", {}, T)
        await asyncio.sleep(0.3)  # all of it arrives; nothing is read
        await stream.aclose()
        got = await transport.post(url, b"", {}, Timeouts(2, 2))
        assert got.body == b"ok"
        await transport.close()
        server.close()

    run(main)


def test_bytes_after_an_answer_never_become_the_next_calls_answer() -> None:
    # An upstream (or a proxy in front of it) sends more than the one response asked for, in the same read.
    # The stray bytes must not be taken as the start of the next call's response.
    stray = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nSTRAY"
    served: list[int] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first_connection = not served
        served.append(1)
        await read_request(reader)
        if not first_connection:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nr2")
            await writer.drain()
            return
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nr1" + stray)
        await writer.drain()
        await read_request(reader)
        writer.write(b"TAIL!HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nr2")
        await writer.drain()
        await asyncio.sleep(0.5)

    async def main() -> None:
        server, port, _ = await serve(handler)
        transport = HttpTransport()
        url = f"http://127.0.0.1:{port}/"
        assert (await transport.post(url, b"", {}, T)).body == b"r1"
        await asyncio.sleep(0.05)
        try:
            second = await transport.post(url, b"", {}, T)
        except errors.UpstreamError:
            return  # refusing the connection is fine too; answering with stray bytes is not
        finally:
            await transport.close()
            server.close()
        assert second.body == b"r2"

    run(main)


def _keep_serving(responses: list[bytes]) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for response in responses:
            await read_request(reader)
            writer.write(response)
            await writer.drain()
        await reader.read()

    return handler


# --- reviewed and found right: pinned so a later change cannot quietly break them ------------------------------


def test_failed_connects_and_slot_waits_that_time_out_give_their_slot_back() -> None:
    async def main() -> None:
        transport = HttpTransport()
        for _ in range(3):  # a leaked slot would make the second attempt wait for it and time out instead
            with pytest.raises(errors.UpstreamUnavailableError):
                await transport.post("http://127.0.0.1:1/", b"", {}, Timeouts(1, 1), max_connections=1)
        server, port, connections, active = await one_at_a_time_server()
        url = f"http://127.0.0.1:{port}/"
        slow = asyncio.create_task(transport.post(url, b"", {}, T, max_connections=1))
        await asyncio.sleep(0)
        with pytest.raises(errors.UpstreamTimeoutError):  # waiting for the one slot counts against the call
            await transport.post(url, b"", {}, Timeouts(0.01, 5), max_connections=1)
        assert (await slow).body == b"ok"
        assert (await transport.post(url, b"", {}, T, max_connections=1)).body == b"ok"
        assert len(connections) == 1 and active[1] == 1
        await transport.close()
        server.close()

    run(main)


def test_an_upstream_closing_idle_connections_frees_their_slots() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(OK)  # keep-alive, then closed by the upstream's own idle timeout
        await writer.drain()

    async def main() -> None:
        server, port, connections = await serve(handler)
        transport = HttpTransport()
        url = f"http://127.0.0.1:{port}/"
        for _ in range(3):
            assert (await transport.post(url, b"", {}, Timeouts(2, 2), max_connections=1)).body == b"ok"
            await asyncio.sleep(0.05)  # the close arrives while the connection is idle
        assert len(connections) == 3
        await transport.close()
        server.close()

    run(main)


def test_closing_the_transport_lets_calls_in_flight_finish() -> None:
    async def main() -> None:
        server, port, _, _ = await one_at_a_time_server()
        transport = HttpTransport()
        url = f"http://127.0.0.1:{port}/"
        calls = [asyncio.create_task(transport.post(url, b"", {}, T, max_connections=1)) for _ in range(2)]
        await asyncio.sleep(0.01)
        await transport.close()
        assert [(await call).body for call in calls] == [b"ok", b"ok"]
        server.close()

    run(main)


def test_signed_paths_and_queries_go_out_byte_identical_and_ipv6_hosts_are_bracketed() -> None:
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            seen.append((await read_request(reader))[0])
            writer.write(OK)
            await writer.drain()

    async def main() -> None:
        server = await asyncio.start_server(handler, "::1", 0)
        port = server.sockets[0].getsockname()[1]
        transport = HttpTransport()
        # Bedrock quotes the model id (an inference-profile ARN: ':' kept, '/' as %2F) and SigV4 signs that path.
        bedrock = "/model/arn:aws:bedrock:us-east-1:1:inference-profile%2Fus.anthropic.claude-v1:0/converse"
        azure = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
        for path in (bedrock, azure):
            assert (await transport.post(f"http://[::1]:{port}{path}", b"{}", {}, T)).body == b"ok"
        await transport.close()
        server.close()
        lines = [head.split(b"\r\n")[:2] for head in seen]
        assert lines == [[b"POST " + p.encode() + b" HTTP/1.1", b"Host: [::1]:%d" % port] for p in (bedrock, azure)]

    run(main)
