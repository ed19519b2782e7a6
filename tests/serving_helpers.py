"""Helpers for the serving and SDK tests: a tiny runtime on free loopback ports, a raw ZeroMQ peer, waits."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import msgpack
import torch
import zmq

from runtime.serving.config import ServeConfig
from runtime.serving.server import ServingRuntime
from runtime.testing import tiny_pipeline
from sdk.protocol import messages as m
from sdk.protocol import msgpack_codec

FPS = 16.0
PROMPT_MAP = """
base = "a green field"

[events.night]
prompt = "the field at night"
priority = 1

[events.boss]
prompt = "a {color} boss in the field"
duration_chunks = 2
priority = 5

[events.slow]
prompt = "a slow fade to {mood}"
transition_steps = 3
"""


@dataclass
class Served:
    runtime: ServingRuntime
    grpc_url: str
    zmq_url: str

    def url(self, transport: str) -> str:
        return self.grpc_url if transport == "grpc" else self.zmq_url


def make_runtime(**config: Any) -> ServingRuntime:
    config.setdefault("pace", True)
    return ServingRuntime(tiny_pipeline(fps=FPS), ServeConfig(**config)).start()


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """The engine's DiT and decode threads each run torch ops; on 2 shared cores, 2 OpenMP threads per op
    spin against each other and against other processes (a step goes from ~5 ms to ~400 ms). One thread
    per op keeps the tiny model fast; restored afterwards for the other tests."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def served(**config: Any) -> Iterator[Served]:
    """A started runtime with gRPC and ZeroMQ on free loopback ports; shut down on exit."""
    with one_torch_thread():
        rt = make_runtime(**config)
        try:
            g = rt.serve_grpc("127.0.0.1", 0)
            z = rt.serve_zmq("127.0.0.1", 0)
            yield Served(rt, f"grpc://127.0.0.1:{g}", f"zmq://127.0.0.1:{z}")
        finally:
            rt.shutdown("test over", grace_s=0.5)


def wait_until(pred: Callable[[], bool], timeout: float, step: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


class RawZmq:
    """A bare DEALER peer that sends whatever it is given (bytes parts or message dataclasses)."""

    def __init__(self, url: str) -> None:
        self.sock = zmq.Context.instance().socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(url.replace("zmq://", "tcp://"))

    def send(self, msg: Any) -> None:
        if isinstance(msg, dict):
            self.sock.send(msgpack.packb(msg))
        elif isinstance(msg, list):
            self.sock.send_multipart(msg)
        elif isinstance(msg, bytes):
            self.sock.send(msg)
        else:
            self.sock.send_multipart(msgpack_codec.encode(msg))

    def recv(self, timeout: float = 5.0, skip: tuple = (m.Frame, m.Stats)) -> Any:
        """The next server message that is not of a `skip` type (frames are answered with a credit)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if not self.sock.poll(int(left * 1000)):
                break
            msg = msgpack_codec.decode_server(self.sock.recv_multipart())
            if isinstance(msg, m.Frame):
                self.send(m.Credit(n=1))
            if not isinstance(msg, skip):
                return msg
        raise AssertionError(f"no message within {timeout} s")

    def handshake(self, **settings: Any) -> m.HandshakeReply:
        settings.setdefault("prompt", "a green field")
        self.send(m.Handshake(client_name="raw", settings=m.SessionSettings(**settings)))
        reply = self.recv()
        assert isinstance(reply, m.HandshakeReply), reply
        return reply

    def close(self) -> None:
        self.sock.close(0)


def start_serve(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str, str, str]:
    """`streamdit serve ARGS --grpc-port 0 --zmq-port 0 --log-level warning` as a subprocess (the console script:
    `python -m runtime.cli` does not register sub-commands, the module runs as __main__, a second copy of the
    app); waits for its "serving ..." line and returns (process, gRPC address, ZeroMQ address, that line).
    Fails the test, with the process's stderr, when the line names no ports. The caller stops the process."""
    exe = Path(sys.executable).with_name("streamdit")
    exe = exe if exe.exists() else Path(shutil.which("streamdit") or "streamdit")
    proc = subprocess.Popen([str(exe), "serve", *args, "--grpc-port", "0", "--zmq-port", "0", "--log-level", "warning"],
                            cwd=Path(__file__).resolve().parents[1], env={**os.environ, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    found = re.search(r"grpc://(\S+) and zmq://(\S+);", line)
    if not found:
        proc.kill()
        raise AssertionError((line, proc.stderr.read()))
    return proc, found[1], found[2], line
