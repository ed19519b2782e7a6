"""The one small interface every client transport implements (STYLE.md rule 7).

A transport moves protocol messages (sdk.protocol.messages dataclasses) and knows nothing about sessions:
the Session does the handshake, credits, acks and reconnects on top of it, whatever the transport.
"""

from __future__ import annotations

import queue
from abc import ABC, abstractmethod
from typing import Any


class Transport(ABC):
    """A connection to a runtime.

    open() connects; send() queues one client message (thread-safe, never blocks on the network);
    recv(timeout) returns the next server message, or None after `timeout` seconds, and raises TransportError
    once the connection is lost; request() is a unary call (get_info / list_models); close() ends the
    connection politely; abort() drops it without a word (tests use it to play a crashed client).
    """

    url: str = ""

    @abstractmethod
    def open(self, timeout: float) -> None: ...

    @abstractmethod
    def send(self, msg: Any) -> None: ...

    @abstractmethod
    def recv(self, timeout: float | None) -> Any | None: ...

    @abstractmethod
    def request(self, msg: Any, timeout: float) -> Any: ...

    @abstractmethod
    def close(self) -> None: ...

    def abort(self) -> None:
        self.close()


LOST = object()  # queued by a transport's reader when the connection is gone


def receive_queued(inbox: "queue.Queue[Any]", timeout: float | None) -> Any | None:
    """The next item a transport's reader thread queued, None after `timeout` seconds (the shared receive of
    the gRPC and ZeroMQ transports).

    A `(LOST, error)` item stays at the head of the queue and raises `error` on this and every later call (the
    connection is gone for good); a queued exception is raised once; anything else is a message.
    """
    try:
        item = inbox.get(timeout=timeout)
    except queue.Empty:
        return None
    if isinstance(item, tuple) and item and item[0] is LOST:
        inbox.put(item)  # stays lost
        raise item[1]
    if isinstance(item, BaseException):
        raise item
    return item
