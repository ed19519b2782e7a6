"""Helpers for the WebSocket tests: a bare WebSocket peer (websockets' sync client) and raw TCP to the port."""

from __future__ import annotations

import base64
import os
import socket
import time
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from sdk.protocol import messages as m
from sdk.protocol import msgpack_codec


class RawWs:
    """A WebSocket peer on ws://127.0.0.1:PORT/v1/session that sends whatever it is given: message dataclasses
    (their msgpack parts, one binary message each), bytes (one binary message), or str (one text message)."""

    def __init__(self, port: int, **kwargs: Any) -> None:
        kwargs.setdefault("max_size", None)
        self.ws = connect(f"ws://127.0.0.1:{port}/v1/session", compression=None, **kwargs).__enter__()

    def send(self, msg: Any) -> None:
        if isinstance(msg, (bytes, str)):
            self.ws.send(msg)
        elif isinstance(msg, dict):
            import msgpack

            self.ws.send(msgpack.packb(msg))
        else:
            for part in msgpack_codec.encode(msg):
                self.ws.send(part)

    def recv(self, timeout: float = 5.0, skip: tuple = (m.Frame, m.Stats), credit: bool = True) -> Any:
        """The next server message not of a `skip` type (a frame is answered with a credit unless not `credit`)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                head = self.ws.recv(timeout=left)
            except TimeoutError:
                break
            parts = [head]
            if msgpack_codec.parts_of(head, "server") == 2:
                parts.append(self.ws.recv(timeout=5.0))
            msg = msgpack_codec.decode_server(parts)
            if isinstance(msg, m.Frame) and credit:
                self.send(m.Credit(n=1))
            if not isinstance(msg, skip):
                return msg
        raise AssertionError(f"no message within {timeout} s")

    def handshake(self, **settings: Any) -> m.HandshakeReply:
        settings.setdefault("prompt", "a green field")
        self.send(m.Handshake(client_name="raw-ws", settings=m.SessionSettings(**settings)))
        reply = self.recv()
        assert isinstance(reply, m.HandshakeReply), reply
        return reply

    def closed_with(self, timeout: float = 10.0) -> tuple[int | None, str]:
        """Read until the runtime closes the WebSocket -> (close code, reason)."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                try:
                    self.ws.recv(timeout=max(0.01, deadline - time.monotonic()))
                except TimeoutError:
                    break
        except ConnectionClosed as e:
            rcvd = e.rcvd
            return (rcvd.code, rcvd.reason) if rcvd is not None else (None, "")
        raise AssertionError(f"the WebSocket stayed open for {timeout} s")

    def close(self) -> None:
        self.ws.close()


def upgrade_request(port: int, path: str = "/v1/session", extra: str = "") -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n").encode()


def raw_exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes to the port; everything it answers until it closes (or `timeout`)."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.settimeout(timeout)
        s.sendall(data)
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except (socket.timeout, ConnectionResetError):
            pass
        return out


def masked_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """One client-to-server WebSocket frame (masked, as RFC 6455 requires of clients)."""
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 1 << 16:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
