"""ZeroMQ client transport: one DEALER socket, msgpack maps (docs/protocol.md section 1).

A thread owns the socket; send() queues and pokes it through a pipe. Automatic reconnection is off
(RECONNECT_IVL = -1): a new connection would be a new peer to the runtime, so the Session resumes explicitly.
"""

from __future__ import annotations

import collections
import os
import queue
import threading
import time
from typing import Any

import zmq
from zmq.utils.monitor import parse_monitor_message

from sdk.errors import ProtocolError, RuntimeTimeoutError, TransportError, server_error
from sdk.protocol import messages as m
from sdk.protocol import msgpack_codec
from sdk.transports.base import LOST, Transport, receive_queued


def _dealer(ctx: zmq.Context, endpoint: str) -> zmq.Socket:
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 500)
    s.setsockopt(zmq.RECONNECT_IVL, -1)
    s.setsockopt(zmq.HEARTBEAT_IVL, 1000)
    s.setsockopt(zmq.HEARTBEAT_TIMEOUT, 3000)
    s.setsockopt(zmq.RCVHWM, 0)
    return s


class ZmqTransport(Transport):
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.url = f"zmq://{host}:{port}"
        self.endpoint = f"tcp://{host}:{port}"
        self.ctx = zmq.Context.instance()
        self._out: collections.deque[Any] = collections.deque()
        self._out_lock = threading.Lock()  # send() and abort() run on the game's thread, the sending on ours
        self._in: queue.Queue[Any] = queue.Queue()
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)
        os.set_blocking(self._w, False)
        self._stop = threading.Event()
        self._linger = 500
        self._thread: threading.Thread | None = None
        self._closed = False

    def _refused(self, timeout: float) -> TransportError:
        return RuntimeTimeoutError(
            f"no ZeroMQ runtime answered at {self.url} within {timeout:g} s: check that `streamdit serve` runs, "
            f"that its --zmq-port is {self.port}, and that {self.host} is reachable")

    def open(self, timeout: float) -> None:
        sock = _dealer(self.ctx, self.endpoint)
        mon = sock.get_monitor_socket(zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED | zmq.EVENT_CLOSED)
        sock.connect(self.endpoint)
        if not mon.poll(int(timeout * 1000)):
            sock.close(0)
            raise self._refused(timeout)
        evt = parse_monitor_message(mon.recv_multipart())
        if evt["event"] != zmq.EVENT_CONNECTED:
            sock.close(0)
            raise TransportError(f"the connection to {self.url} was refused or closed ({evt['event']!r}): is "
                                 f"`streamdit serve` running with --zmq-port {self.port}?")
        self._thread = threading.Thread(target=self._run, args=(sock, mon), name="streamdit-zmq-client", daemon=True)
        self._thread.start()

    def _run(self, sock: zmq.Socket, mon: zmq.Socket) -> None:
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        poller.register(mon, zmq.POLLIN)
        poller.register(self._r, zmq.POLLIN)
        lost = None
        try:
            while not self._stop.is_set() and lost is None:
                events = dict(poller.poll(500))
                if self._r in events:
                    try:
                        while os.read(self._r, 4096):
                            pass
                    except BlockingIOError:
                        pass
                self._send_queued(sock)
                # waiting messages (no peer, or its queue is full) go when the socket is writable again; a
                # blocking send here would hang this thread after a drop, deaf to the monitor's DISCONNECTED
                poller.modify(sock, zmq.POLLIN | (zmq.POLLOUT if self._out else 0))
                if sock in events:
                    while True:
                        try:
                            parts = sock.recv_multipart(zmq.NOBLOCK, copy=False)
                        except zmq.Again:
                            break
                        try:
                            self._in.put(msgpack_codec.decode_server([p.buffer for p in parts]))
                        except ProtocolError as e:
                            self._in.put(e)
                if mon in events:
                    evt = parse_monitor_message(mon.recv_multipart())
                    if evt["event"] in (zmq.EVENT_DISCONNECTED, zmq.EVENT_CLOSED):
                        lost = TransportError(f"the runtime at {self.url} closed the connection")
            if lost is None:  # flush a final close
                self._send_queued(sock)
        except zmq.ZMQError as e:
            lost = TransportError(f"ZeroMQ error on {self.url}: {e}")
        finally:
            sock.disable_monitor()
            mon.close(0)
            sock.close(self._linger)
            self._in.put((LOST, lost or TransportError(f"the connection to {self.url} is closed")))

    def _send_queued(self, sock: zmq.Socket) -> None:
        """Send queued messages without blocking; those that cannot go now stay queued, in order.

        The lock is not held while sending: an abort() on the game's thread may empty the queue meanwhile, and
        then the message just sent is not popped again (it once popped an empty deque: IndexError)."""
        while True:
            with self._out_lock:
                if not self._out:
                    return
                msg = self._out[0]
            try:
                sock.send_multipart(msgpack_codec.encode(msg), zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            with self._out_lock:
                if self._out and self._out[0] is msg:
                    self._out.popleft()

    def _wake(self) -> None:
        try:
            os.write(self._w, b"x")
        except BlockingIOError:
            pass

    def send(self, msg: Any) -> None:
        if self._closed:
            raise TransportError(f"the connection to {self.url} is closed")
        with self._out_lock:
            self._out.append(msg)
        self._wake()

    def recv(self, timeout: float | None) -> Any | None:
        return receive_queued(self._in, timeout)

    def request(self, msg: Any, timeout: float) -> Any:
        sock = _dealer(self.ctx, self.endpoint)
        try:
            sock.connect(self.endpoint)
            sock.send_multipart(msgpack_codec.encode(msg))
            deadline = time.monotonic() + timeout
            while (left := deadline - time.monotonic()) > 0:
                if not sock.poll(int(left * 1000)):
                    break
                reply = msgpack_codec.decode_server(sock.recv_multipart())
                if isinstance(reply, m.Error):
                    raise server_error(reply.code, reply.message, fatal=reply.fatal)
                if isinstance(reply, (m.RuntimeInfo, m.ModelList)):
                    return reply
            raise self._refused(timeout)
        finally:
            sock.close(0)

    def _shutdown(self, linger: int) -> None:
        if self._closed:
            return
        self._closed = True
        self._linger = linger
        self._stop.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(2.0)
        os.close(self._r)
        os.close(self._w)

    def close(self) -> None:
        self._shutdown(500)

    def abort(self) -> None:
        with self._out_lock:
            self._out.clear()
        self._shutdown(0)
