"""The ZeroMQ client transport's send queue (sdk/transports/zmq.py), with a stand-in socket.

The transport's thread sends queued messages while the game's thread may call send() or abort(). An abort()
that emptied the queue while a message was in flight used to make the sending thread pop an empty deque
(IndexError: pop from an empty deque, seen once in the serving tests).
"""

import zmq

from sdk.protocol import messages as m
from sdk.protocol import msgpack_codec
from sdk.transports.zmq import ZmqTransport


class FakeSocket:
    """Records what it sends; `on_send(n)` runs inside each send (n: messages sent before it); `again_at`: the
    send number that finds the socket full (zmq.Again)."""

    def __init__(self, on_send=None, again_at=None):
        self.sent, self.on_send, self.again_at = [], on_send, again_at

    def send_multipart(self, parts, flags=0, copy=True):
        assert flags & zmq.NOBLOCK, "the transport's thread must never block on a send"
        if self.again_at is not None and len(self.sent) == self.again_at:
            raise zmq.Again()
        if self.on_send is not None:
            self.on_send(len(self.sent))
        self.sent.append(msgpack_codec.decode_client([bytes(p) for p in parts]))


def _events(n):
    return [m.Event(event_id=i + 1, event_type=f"e{i}", payload={}) for i in range(n)]


def test_an_abort_while_a_message_is_in_flight_does_not_break_the_sending_thread():
    t = ZmqTransport("127.0.0.1", 1)
    for e in _events(3):
        t.send(e)
    sock = FakeSocket(on_send=lambda n: t.abort() if n == 0 else None)
    t._send_queued(sock)  # raised IndexError before the fix: abort() emptied the queue during the first send
    assert len(sock.sent) == 1, "nothing queued before the abort may be sent after it"
    assert not t._out


def test_messages_a_full_socket_refuses_stay_queued_in_order():
    t = ZmqTransport("127.0.0.1", 1)
    events = _events(4)
    for e in events:
        t.send(e)
    sock = FakeSocket(again_at=2)
    t._send_queued(sock)
    assert [e.event_id for e in sock.sent] == [1, 2]
    assert [e.event_id for e in t._out] == [3, 4]
    sock.again_at = None
    t._send_queued(sock)
    assert [e.event_id for e in sock.sent] == [1, 2, 3, 4] and not t._out
    t.abort()
