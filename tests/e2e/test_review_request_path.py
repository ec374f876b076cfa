"""Review findings on the request path (raw bodies and headers), against a real gateway process."""

from __future__ import annotations

import socket

from tests.gateway_process import GatewayProcess


def raw_exchange(gateway: GatewayProcess, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def test_a_content_length_with_thousands_of_leading_zeros_is_read_not_a_500(demo_gateway: GatewayProcess) -> None:
    # The HTTP parser accepts it (the value is small); turning thousands of digits into an int raised ValueError.
    body = b'{"model":"demo","messages":[{"role":"user","content":"hi"}]}'
    length = b"0" * 5000 + str(len(body)).encode()
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
        b"Connection: close\r\nContent-Length: " + length + b"\r\n\r\n" + body
    )
    answer = raw_exchange(demo_gateway, request)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
    assert b"unexpected error" not in demo_gateway.output().encode()
