"""The ZeroMQ transport: a ROUTER socket speaking msgpack maps (docs/protocol.md section 1).

One thread owns the socket (ZeroMQ sockets are not thread-safe). It polls the ROUTER, a monitor socket that
reports TCP accepts and disconnects, and a wake pipe that the engine and decode threads write to when an Outbox
has something to send. Each connection (routing id) is one Connection. A peer's disconnect is seen through the
monitor, through ROUTER_MANDATORY send failures, or through ZMTP heartbeats (1 s ping, 3 s timeout).

The monitor names a connection by its file descriptor, a number the OS gives to the next connection as soon as
it is free. So a routing id is bound to (descriptor, generation), where the generation counts the ACCEPTED
events of that descriptor, and it is bound at its first message only after the monitor was read: libzmq emits
ACCEPTED before a connection can send and DISCONNECTED before it closes the descriptor, so a DISCONNECTED event
always refers to the binding of the connection it was emitted for, never to a newer connection that reuses the
number (tests/test_serving_zmq_race.py shows the race that keying by the bare number allowed).

Every message is first admitted by its Connection (a per-connection rate; a flood is dropped before it is
decoded, and a connection that keeps flooding is closed, `_cut`). A connection that failed auth is ignored until it disconnects (a ROUTER socket cannot close one peer's
TCP connection), and the credential checks of a peer with repeated failures are deferred on a timer queue, so
they never block the socket thread (runtime.serving.guard).
"""

from __future__ import annotations

import collections
import heapq
import itertools
import logging
import os
import socket
import threading
import time
from typing import Any

import zmq
from zmq.utils.monitor import parse_monitor_message

from runtime.serving.connection import Connection
from sdk.errors import ConfigError, StreamDiTError
from sdk.protocol import messages as m
from sdk.protocol import msgpack_codec
from sdk.protocol.limits import shown

log = logging.getLogger("streamdit.serving")


class _Waker:
    """A pipe any thread can poke (non-blocking) to wake the socket thread's poll.

    Every wake writes a byte (a full pipe is already readable, so a failed write loses nothing). A "skip the
    write when one is pending" flag would race with drain() and could leave the loop asleep until its poll
    timeout.
    """

    def __init__(self) -> None:
        self.r, self.w = os.pipe()
        os.set_blocking(self.r, False)
        os.set_blocking(self.w, False)

    def wake(self) -> None:
        try:
            os.write(self.w, b"x")
        except (BlockingIOError, OSError):
            pass

    def drain(self) -> None:
        try:
            while os.read(self.r, 65536):
                pass
        except BlockingIOError:
            pass

    def close(self) -> None:
        os.close(self.r)
        os.close(self.w)


MAX_REFUSED = 4096  # connections that failed auth, ignored until they disconnect (oldest forgotten first)


class ZmqServer:
    """ROUTER server on tcp://host:port. start() returns the bound port."""

    def __init__(self, runtime: Any, host: str, port: int) -> None:
        self.runtime, self.host, self.port = runtime, host, port
        self.ctx = zmq.Context.instance()
        self._conns: dict[bytes, Connection] = {}
        self._key_of: dict[bytes, tuple[int, int]] = {}  # routing id -> (descriptor, generation) of its TCP link
        self._id_of_key: dict[tuple[int, int], bytes] = {}
        self._generation: dict[int, int] = {}  # descriptor -> ACCEPTED events seen for that number
        self._refused: collections.OrderedDict[bytes, None] = collections.OrderedDict()
        self._deferred: list[tuple[float, int, bytes, str, Any]] = []  # (due, seq, rid, peer, message) heap
        self._seq = itertools.count()
        self._dirty: set[bytes] = set()
        self._dirty_lock = threading.Lock()
        self._waker = _Waker()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="streamdit-zmq", daemon=True)
        self._sock: zmq.Socket | None = None
        self._mon: zmq.Socket | None = None

    def start(self) -> int:
        limit = self.runtime.config.max_message_bytes
        sock = self.ctx.socket(zmq.ROUTER)
        sock.setsockopt(zmq.ROUTER_MANDATORY, 1)  # sending to a gone peer raises instead of vanishing
        sock.setsockopt(zmq.MAXMSGSIZE, 16 * limit)  # hard memory guard: libzmq drops such a peer
        sock.setsockopt(zmq.HEARTBEAT_IVL, 1000)
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, 3000)
        # Messages queued per peer in libzmq: credits bound the frames a client may be sent, but a client that
        # grants credits without reading its socket must not make the runtime queue frames without end.
        sock.setsockopt(zmq.SNDHWM, 4 * self.runtime.config.max_credits + 256)
        # No inbound queue limit. With one, a peer whose queue fills while this thread is busy (a flood) stops
        # being read by libzmq, and if it then drops its connection, libzmq's heartbeat aborts the whole process
        # ("Assertion failed: !_io_error", zeromq/libzmq#4364; tests/test_serving_flood.py reproduces it). This
        # thread reads every message as it comes and drops a flood's excess unread (Connection.admit).
        sock.setsockopt(zmq.RCVHWM, 0)
        sock.setsockopt(zmq.LINGER, 0)
        # The monitor before the bind, with no receive limit: a lost ACCEPTED event would skew the generations.
        addr = f"inproc://streamdit-zmq-monitor-{id(self)}"
        sock.monitor(addr, zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED)
        mon = self.ctx.socket(zmq.PAIR)
        mon.setsockopt(zmq.RCVHWM, 0)
        mon.connect(addr)
        try:
            if self.port == 0:
                self.port = sock.bind_to_random_port(f"tcp://{self.host}")
            else:
                sock.bind(f"tcp://{self.host}:{self.port}")
        except zmq.ZMQError as e:
            sock.disable_monitor()
            mon.close(0)
            sock.close(0)
            raise ConfigError(f"cannot bind the ZeroMQ server to tcp://{self.host}:{self.port}: {e}; pick another "
                              f"--zmq-port") from None
        self._mon = mon
        self._sock = sock
        self._thread.start()
        return self.port

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._waker.wake()
        self._thread.join(timeout)

    # ------------------------------------------------------------------------------ socket thread
    def _run(self) -> None:
        sock, mon = self._sock, self._mon
        assert sock is not None and mon is not None
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        poller.register(mon, zmq.POLLIN)
        poller.register(self._waker.r, zmq.POLLIN)
        try:
            while not self._stop.is_set():
                wait_ms = 500
                if self._deferred:
                    wait_ms = max(0, min(wait_ms, int((self._deferred[0][0] - time.monotonic()) * 1000) + 1))
                events = dict(poller.poll(wait_ms))
                if mon in events:
                    self._on_monitor(mon)
                if sock in events:
                    for _ in range(256):  # bounded, so sends are not starved
                        try:
                            parts = sock.recv_multipart(zmq.NOBLOCK, copy=False)
                        except zmq.Again:
                            break
                        self._on_message(parts)
                if self._waker.r in events:
                    self._waker.drain()
                self._run_deferred()
                self._flush(sock)
            self._flush(sock)
        except Exception:  # pragma: no cover - a bug in this loop must not pass silently
            log.exception("the ZeroMQ server loop failed")
        finally:
            for conn in list(self._conns.values()):
                conn.disconnected()
            sock.disable_monitor()
            mon.close(0)
            sock.close(0)
            self._waker.close()

    def _on_monitor(self, mon: zmq.Socket) -> None:
        while True:
            try:
                evt = parse_monitor_message(mon.recv_multipart(zmq.NOBLOCK))
            except zmq.Again:
                return
            fd = int(evt["value"])
            if evt["event"] == zmq.EVENT_ACCEPTED:
                self._generation[fd] = self._generation.get(fd, 0) + 1
            elif evt["event"] == zmq.EVENT_DISCONNECTED:
                rid = self._id_of_key.pop((fd, self._generation.get(fd, 0)), None)
                if rid is not None:
                    self._drop(rid)

    def _bind(self, rid: bytes, frame: zmq.Frame) -> None:
        """Bind a new routing id to its connection's (descriptor, generation); see the module docstring."""
        if self._mon is not None:
            self._on_monitor(self._mon)  # every event emitted before this message was sent is readable now
        try:
            fd = int(frame.get(zmq.SRCFD))
        except zmq.ZMQError:  # pragma: no cover - SRCFD is deprecated; heartbeats still find dead peers
            return
        key = (fd, self._generation.get(fd, 0))
        self._id_of_key[key] = rid  # a stale holder of this key (a message read after its disconnect) is
        self._key_of[rid] = key  # found by its next send failing (ROUTER_MANDATORY)

    def _connection(self, rid: bytes, frame: zmq.Frame) -> Connection:
        conn = self._conns.get(rid)
        if conn is None:
            try:
                peer = str(frame.get("Peer-Address"))
            except (zmq.ZMQError, UnicodeDecodeError):  # pragma: no cover - libzmq always sets it for TCP
                peer = ""
            conn = self.runtime.connect("zmq", peer=peer, link="zmq:" + rid.hex())
            conn.outbox.set_notify(lambda rid=rid: self._mark(rid))
            self._conns[rid] = conn
        return conn

    def _mark(self, rid: bytes) -> None:
        with self._dirty_lock:
            self._dirty.add(rid)
        self._waker.wake()

    def _on_message(self, frames: list[zmq.Frame]) -> None:
        rid = frames[0].bytes
        if rid in self._refused:  # failed auth, or cut for flooding: nothing more is read from this connection
            return
        if rid not in self._key_of:
            self._bind(rid, frames[0])
        conn = self._connection(rid, frames[0])
        if not conn.admit():  # more than max_messages_per_second: dropped before decoding
            if conn.flood_pause() > 0:  # over a second's allowance dropped since the last notice: a flood
                self._cut(rid, conn)
            return
        parts = [f.buffer for f in frames[1:]]
        if not conn.size_ok(sum(len(p) for p in parts)):
            return
        msg = conn.decode_msgpack(parts)
        if msg is None:
            return
        try:
            delay = conn.auth_delay(msg)
        except StreamDiTError as e:
            conn.reject(e, msg)
            return
        if delay > 0:  # a peer with repeated auth failures waits its turn, on the timer queue
            heapq.heappush(self._deferred, (time.monotonic() + delay, next(self._seq), rid, conn.peer, msg))
            return
        self._handle(rid, conn, msg)

    def _cut(self, rid: bytes, conn: Connection) -> None:
        """End a flooding peer's connection. A ROUTER socket has no call for that, and with no inbound queue limit
        (see start) a flood that outpaces this thread would pile up in memory; so its TCP socket is shut down
        through its descriptor, once the monitor confirms that the descriptor is still this peer's (module
        docstring). libzmq then reports the disconnect; what it had queued is dropped unread."""
        conn.outbox.finish(m.Error(code=m.RATE_LIMITED, fatal=True, message=(
            f"this connection kept sending far more than {self.runtime.config.max_messages_per_second:g} "
            f"messages per second (limits: max_messages_per_second); it is closed")))
        self._refused[rid] = None
        self.runtime.throttled.warning("zmq-cut", "closed a ZeroMQ connection from %s that kept flooding",
                                       shown(conn.peer))
        if self._mon is not None:
            self._on_monitor(self._mon)
        key = self._key_of.get(rid)
        if key is None or self._id_of_key.get(key) != rid:
            return  # already gone
        try:
            dup = socket.socket(fileno=os.dup(key[0]))
        except OSError:
            return
        try:
            dup.shutdown(socket.SHUT_RDWR)  # acts on the connection; libzmq's own descriptor stays open for it
        except OSError:
            pass
        finally:
            dup.close()

    def _handle(self, rid: bytes, conn: Connection, msg: Any) -> None:
        conn.handle(msg)
        if conn.refused:
            self._refused[rid] = None
            while len(self._refused) > MAX_REFUSED:
                self._refused.popitem(last=False)

    def _run_deferred(self) -> None:
        now = time.monotonic()
        while self._deferred and self._deferred[0][0] <= now:
            _, _, rid, peer, msg = heapq.heappop(self._deferred)
            self.runtime.guard.done(peer)
            conn = self._conns.get(rid)
            if conn is not None and rid not in self._refused:
                self._handle(rid, conn, msg)

    def _flush(self, sock: zmq.Socket) -> None:
        with self._dirty_lock:
            dirty, self._dirty = self._dirty, set()
        for rid in dirty:
            conn = self._conns.get(rid)
            if conn is None:
                continue
            for msg in conn.outbox.take(limit=1 << 30):
                try:
                    sock.send_multipart([rid, *msgpack_codec.encode(msg)], zmq.NOBLOCK, copy=False)
                except zmq.Again:  # the peer does not read its socket: latest frames win here too
                    if msg.TYPE == "frame":
                        conn.outbox.count_dropped(1)
                    else:
                        self.runtime.throttled.warning("zmq-send-full", "send queue of a ZeroMQ client is full; "
                                                       "a %s message was dropped", msg.TYPE)
                except zmq.ZMQError as e:  # EHOSTUNREACH: the peer is gone
                    log.info("ZeroMQ peer gone (%s); its session is released", e)
                    self._drop(rid)
                    break
            if rid in self._conns and conn.outbox.drained():
                self._conns.pop(rid, None)  # session over: a new handshake from this peer starts afresh
                conn.disconnected()

    def _drop(self, rid: bytes) -> None:
        conn = self._conns.pop(rid, None)
        key = self._key_of.pop(rid, None)
        if key is not None and self._id_of_key.get(key) == rid:
            self._id_of_key.pop(key, None)
        self._refused.pop(rid, None)
        if conn is not None:
            conn.outbox.set_notify(None)
            conn.disconnected()
