"""Issue 18, defect 10: a ZeroMQ resume that lost its session right after "resumed".

The cause: the ZeroMQ server learnt of TCP disconnects from libzmq's monitor, which names the connection by
its file descriptor, and it kept "fd -> routing id" from the messages' SRCFD. The OS gives a new connection
the lowest free descriptor, so a client that reconnects at once often gets the number its old connection had.
libzmq emits the old connection's DISCONNECTED event before it closes that descriptor, but the server reads
client messages beyond the instant of its poll (up to 256 per wake-up), so the new connection's handshake can
be read, and "fd -> new routing id" recorded, before the old DISCONNECTED event is: that event then dropped
the new connection. Its session was detached and its next messages found no session (no_session).

The test holds the server's socket thread in one client's set_prompt (the prompt encoder is made slow), closes
another client's connection in that window, and resumes its session on a new connection. Before the fix the
resumed connection lost its session; now the server drops only the connection that a DISCONNECTED event was
emitted for (descriptors are tracked with their ACCEPTED events, one generation per reuse).
"""

import threading
import time

import pytest

from sdk.protocol import messages as m
from serving_helpers import RawZmq, served

pytestmark = pytest.mark.timeout(120)
HOLD = "hold the socket thread"


def test_a_resume_on_a_reused_descriptor_keeps_its_session():
    with served(max_events_per_second=100.0) as srv:
        rt = srv.runtime
        encode = rt.warm_prompt
        held = threading.Event()

        def slow_warm(text):  # runs on the ZeroMQ socket thread (set_prompt encodes on the input thread)
            if text == HOLD:
                held.set()
                time.sleep(1.5)
            encode(text)

        rt.warm_prompt = slow_warm
        lost = []
        for attempt in range(3):  # each attempt is one reconnect; the race needs the descriptor to be reused
            holder, old = RawZmq(srv.zmq_url), RawZmq(srv.zmq_url)
            holder.handshake()
            reply = old.handshake()
            held.clear()
            holder.send(m.SetPrompt(event_id=1, text=HOLD))
            assert held.wait(5)
            old.close()  # the old connection drops while the socket thread is busy
            time.sleep(0.3)
            new = RawZmq(srv.zmq_url)
            new.send(m.Handshake(client_name="resumer", resume_token=reply.resume_token,
                                 settings=m.SessionSettings(prompt="a green field")))
            resumed = new.recv(timeout=10)
            assert isinstance(resumed, m.HandshakeReply) and resumed.resumed, resumed
            time.sleep(1.5)  # the socket thread wakes up and reads the old connection's DISCONNECTED event
            new.send(m.SetPrompt(event_id=1, text="a red square"))
            answer = new.recv(timeout=10)
            if not isinstance(answer, m.EventAck):
                lost.append(answer)
            for peer in (holder, new):
                peer.close()
        assert not lost, f"a resumed session was dropped by an old connection's disconnect: {lost}"
