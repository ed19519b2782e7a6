"""Issue 18, defect 6: client strings cannot forge log lines, and repeated warnings are counted, not written
one per message (a flood of dropped control messages, auth refusals)."""

import logging

import pytest
import zmq

import sdk
from runtime.serving.zmq_server import ZmqServer
from sdk.errors import AuthError
from sdk.protocol import messages as m
from serving_helpers import make_runtime, one_torch_thread, served

pytestmark = pytest.mark.timeout(120)
FORGED = "game\n2026-01-01 00:00:00 ERROR streamdit.serving: forged line"


def serving_lines(caplog, level=logging.DEBUG):
    return [r.getMessage() for r in caplog.records if r.name == "streamdit.serving" and r.levelno >= level]


@pytest.mark.parametrize("transport", ["grpc", "zmq"])
def test_a_client_name_cannot_forge_a_log_line(transport, caplog):
    with served() as srv, caplog.at_level(logging.INFO, logger="streamdit.serving"):
        with sdk.Session(srv.url(transport), prompt="a", client_name=FORGED, client_version="1\r\n2") as s:
            assert s.session_id
    opened = [line for line in serving_lines(caplog) if "opened over" in line]
    assert opened and all("\n" not in line and "\r" not in line for line in serving_lines(caplog))
    assert "\\n2026-01-01" in opened[0]  # escaped, still readable


def test_a_flood_of_dropped_control_messages_writes_one_warning(caplog):
    with one_torch_thread():
        rt = make_runtime(warm_up=False)
    try:
        srv = ZmqServer(rt, "127.0.0.1", 0)  # not started: its send path is driven by hand
        conn = rt.connect("zmq")
        for i in range(200):
            conn.outbox.put(m.Error(code=m.BAD_MESSAGE, message=f"bad {i}"))
        srv._conns[b"peer"] = conn
        srv._dirty.add(b"peer")

        class FullQueue:  # a client that never reads: libzmq's send queue for it is full
            def send_multipart(self, *a, **k):
                raise zmq.Again()

        with caplog.at_level(logging.INFO, logger="streamdit.serving"):
            srv._flush(FullQueue())
            for i in range(50):
                conn.outbox.put(m.Error(code=m.BAD_MESSAGE, message=f"again {i}"))
            srv._dirty.add(b"peer")
            srv._flush(FullQueue())
        warnings = [line for line in serving_lines(caplog, logging.WARNING) if "send queue" in line]
        assert len(warnings) == 1, warnings  # 250 dropped messages: one line (the next one will carry the count)
    finally:
        rt.shutdown()


def test_auth_refusals_are_counted_not_each_logged(caplog):
    with served(auth_token="right") as srv, caplog.at_level(logging.INFO, logger="streamdit.serving"):
        for url in (srv.grpc_url, srv.zmq_url, srv.grpc_url, srv.zmq_url):
            with pytest.raises(AuthError):
                sdk.Session(url, prompt="a", auth_token="wrong", reconnect=False)
    refused = [line for line in serving_lines(caplog, logging.WARNING) if "refused" in line]
    assert len(refused) == 1, refused


def test_throttled_lines_carry_the_count_of_those_left_out(caplog):
    from runtime.serving.guard import Throttled

    t = Throttled(logging.getLogger("streamdit.serving"), interval_s=0.0)
    slow = Throttled(logging.getLogger("streamdit.serving"), interval_s=3600.0)
    with caplog.at_level(logging.WARNING, logger="streamdit.serving"):
        assert [slow.warning("k", "line %d", i) for i in range(5)] == [True, False, False, False, False]
        slow._last["k"] -= 7200  # an hour later
        assert slow.warning("k", "line %d", 5)
        assert t.warning("other", "x") and t.warning("other", "x")
    lines = serving_lines(caplog, logging.WARNING)
    assert lines[:2] == ["line 0", lines[1]] and "line 5 (and 4 more like it" in lines[1]
