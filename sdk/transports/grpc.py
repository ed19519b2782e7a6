"""gRPC client transport: the `streamdit.v1.Runtime/Session` bidirectional stream (synchronous grpc API).

A reader thread turns responses into messages on a queue; send() feeds the request iterator through another.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

import grpc

from sdk.errors import MessageTooLargeError, ProtocolError, RuntimeTimeoutError, TransportError, server_error
from sdk.protocol import messages as m
from sdk.protocol import proto_codec
from sdk.protocol.pb import runtime_pb2_grpc as pb_grpc
from sdk.transports.base import LOST, Transport, receive_queued

OPTIONS = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", 64 << 20),
           ("grpc.enable_retries", 0)]


class GrpcTransport(Transport):
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.url = f"grpc://{host}:{port}"
        self._channel: grpc.Channel | None = None
        self._stub: pb_grpc.RuntimeStub | None = None
        self._call: Any = None
        self._out: queue.Queue[Any] = queue.Queue()
        self._in: queue.Queue[Any] = queue.Queue()
        self._closing = False
        self._reader: threading.Thread | None = None

    def open(self, timeout: float) -> None:
        self._channel = grpc.insecure_channel(f"{self.host}:{self.port}", options=OPTIONS)
        try:
            grpc.channel_ready_future(self._channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            self._channel.close()
            raise RuntimeTimeoutError(
                f"no gRPC runtime answered at {self.url} within {timeout:g} s: check that `streamdit serve` runs, "
                f"that its --grpc-port is {self.port}, and that {self.host} is reachable") from None
        self._stub = pb_grpc.RuntimeStub(self._channel)
        self._call = self._stub.Session(self._requests())
        self._reader = threading.Thread(target=self._read, name="streamdit-grpc-client", daemon=True)
        self._reader.start()

    def _requests(self) -> Any:
        while True:
            msg = self._out.get()
            if msg is None:
                return
            yield proto_codec.to_proto(msg)

    def _read(self) -> None:
        told = False  # the runtime sent a fatal Error: the stream's status repeats it
        try:
            for resp in self._call:
                try:
                    msg = proto_codec.server_from_proto(resp)
                    told = told or (isinstance(msg, m.Error) and msg.fatal)
                    self._in.put(msg)
                except ProtocolError as e:
                    self._in.put(e)
            self._in.put((LOST, TransportError(f"the runtime at {self.url} ended the stream")))
        except grpc.RpcError as e:
            code = e.code() if hasattr(e, "code") else None
            if code == grpc.StatusCode.RESOURCE_EXHAUSTED and not told:  # gRPC's own message size limit
                self._in.put(MessageTooLargeError(str(e.details()), fatal=True))
            self._in.put((LOST, TransportError(f"the gRPC stream to {self.url} failed: "
                                               f"{code.name if code else ''} {e.details() if hasattr(e, 'details') else e}")))

    def send(self, msg: Any) -> None:
        if self._closing:
            raise TransportError(f"the connection to {self.url} is closed")
        self._out.put(msg)

    def recv(self, timeout: float | None) -> Any | None:
        return receive_queued(self._in, timeout)

    def request(self, msg: Any, timeout: float) -> Any:
        if self._stub is None:
            raise TransportError("open() the transport first")
        call = self._stub.GetInfo if isinstance(msg, m.GetInfo) else self._stub.ListModels
        try:
            return proto_codec.unary_from_proto(call(proto_codec.to_proto(msg), timeout=timeout))
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.UNAUTHENTICATED:
                raise server_error(m.AUTH_FAILED, e.details()) from None
            raise TransportError(f"{type(msg).__name__} to {self.url} failed: {e.code().name} {e.details()}") from None

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._out.put(None)  # half-close: the runtime sees the end of our stream
        if self._reader is not None:
            self._reader.join(1.0)
        if self._call is not None:
            self._call.cancel()
        if self._channel is not None:
            self._channel.close()

    def abort(self) -> None:
        self._closing = True
        if self._call is not None:
            self._call.cancel()
        if self._channel is not None:
            self._channel.close()
