"""A bare gRPC Session peer for tests: sends message dataclasses, protobuf messages or raw bytes, reads replies
and the final status. The twin of serving_helpers.RawZmq, so that a test can run on either transport."""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

import grpc

from sdk.protocol import messages as m
from sdk.protocol import proto_codec
from sdk.protocol.pb import runtime_pb2 as pb
from serving_helpers import RawZmq

_END = object()


class RawGrpc:
    """One `streamdit.v1.Runtime/Session` stream. recv() skips frames (answering each with a credit) and stats."""

    def __init__(self, url: str, channel: grpc.Channel | None = None) -> None:
        """channel: an open channel to share (streams on one HTTP/2 connection); None = a new one."""
        self._own = channel is None
        self.channel = channel or grpc.insecure_channel(url.removeprefix("grpc://"))
        call = self.channel.stream_stream("/streamdit.v1.Runtime/Session",
                                          request_serializer=lambda x: x if isinstance(x, bytes) else x.SerializeToString(),
                                          response_deserializer=pb.ServerMessage.FromString)
        self._out: queue.Queue[Any] = queue.Queue()
        self._in: queue.Queue[Any] = queue.Queue()
        self.call = call(iter(self._out.get, _END))
        self.status: grpc.StatusCode | None = None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            for resp in self.call:
                self._in.put(proto_codec.server_from_proto(resp))
            self.status = grpc.StatusCode.OK
        except grpc.RpcError as e:
            self.status = e.code()
        self._in.put(_END)

    def send(self, msg: Any) -> None:
        self._out.put(msg if isinstance(msg, (bytes, pb.ClientMessage)) else proto_codec.to_proto(msg))

    def recv(self, timeout: float = 5.0, skip: tuple = (m.Frame, m.Stats)) -> Any:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                msg = self._in.get(timeout=left)
            except queue.Empty:
                break
            if msg is _END:
                self._in.put(_END)
                raise AssertionError(f"the stream ended (status {self.status}) before a message came")
            if isinstance(msg, m.Frame):
                self.send(m.Credit(n=1))
            if not isinstance(msg, skip):
                return msg
        raise AssertionError(f"no message within {timeout} s")

    def ended(self, timeout: float = 10.0) -> grpc.StatusCode | None:
        """Wait for the stream to end; its status (None when it did not end in time)."""
        self._reader.join(timeout)
        return self.status

    def handshake(self, **settings: Any) -> m.HandshakeReply:
        settings.setdefault("prompt", "a green field")
        self.send(m.Handshake(client_name="raw", settings=m.SessionSettings(**settings)))
        reply = self.recv()
        assert isinstance(reply, m.HandshakeReply), reply
        return reply

    def close(self) -> None:
        self._out.put(_END)
        self.call.cancel()
        if self._own:
            self.channel.close()


def raw_peer(transport: str, served: Any) -> Any:
    """A RawGrpc or RawZmq connected to `served` (a serving_helpers.Served)."""
    return RawGrpc(served.grpc_url) if transport == "grpc" else RawZmq(served.zmq_url)
