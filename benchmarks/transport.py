"""Benchmark the frame transports: gRPC, ZeroMQ and WebSocket against a raw TCP socket, and remote against
in-process FPS.

Prints one JSON line, everything measured side by side in this one run (medians of --reps repetitions, the
sides interleaved: each round measures raw TCP, gRPC, ZeroMQ and WebSocket once, in a rotated order):

- transport: for 72x72 (the default model's) and 512x512 RGB frames, frames/s and MB/s through gRPC, ZeroMQ and
  WebSocket (runtime server -> SDK Session, credits, encode and decode included), and through a raw TCP socket (length-prefixed
  frames in one write each, TCP_NODELAY, no protocol) as the ceiling; each transport's ratio to that ceiling,
  the median of the ratios of each round. Frames are fed straight into the session's outbox, so the model is
  not the bottleneck. Server and client share this process, as do the raw socket's two ends. No transport can
  move the same frames faster than the raw socket: a ratio above 1 is reported as invalid (the load changed
  during the run), not as a figure. spread_fps gives [min, max] over the rounds.
- model: the FPS a client receives from the same model (pace off) in process (local://) and from a separate
  client process over gRPC, ZeroMQ and WebSocket, and the ratios remote / in-process.

    python benchmarks/transport.py [--seconds 1.5] [--reps 3] [--checkpoint DIR] [--part all|transport|model]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: spinning OpenMP workers starve the I/O threads
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

import sdk  # noqa: E402
from benchmarks.common import bounded, interleaved, spread  # noqa: E402
from sdk.protocol import messages as m  # noqa: E402

SIZES = (72, 512)


# ----------------------------------------------------------------------------------- raw TCP ceiling
def raw_tcp_fps(size: int, seconds: float) -> float:
    """Frames/s of length-prefixed size x size x 3 frames over a loopback TCP socket (sender thread -> receiver)."""
    payload = np.random.default_rng(0).integers(0, 256, size * size * 3, dtype=np.uint8).tobytes()
    header = struct.pack("<Q", len(payload))
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    stop = threading.Event()

    frame = header + payload  # one write per frame: a separate 8-byte header write waits on delayed ACKs

    def send() -> None:
        conn, _ = srv.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while not stop.is_set():
                conn.sendall(frame)
        except OSError:
            pass
        finally:
            conn.close()

    t = threading.Thread(target=send, daemon=True)
    t.start()
    cli = socket.create_connection(srv.getsockname())
    cli.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = bytearray(len(payload))
    view = memoryview(buf)

    def read_exact(v: memoryview) -> None:
        got = 0
        while got < len(v):
            n = cli.recv_into(v[got:])
            if not n:
                raise ConnectionError("sender closed")
            got += n

    hdr = memoryview(bytearray(8))
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        read_exact(hdr)
        read_exact(view)
        np.frombuffer(buf, np.uint8).reshape(size, size, 3)  # what a client does with it
        n += 1
    fps = n / (time.perf_counter() - t0)
    stop.set()
    cli.close()
    srv.close()
    t.join(2)
    return fps


# ----------------------------------------------------------------------------------- runtime transports
def feed_frames(conn: object, size: int, stop: threading.Event) -> None:
    """Keep the session's outbox full of size x size frames (latest-wins queue), bypassing the model."""
    pixels = np.random.default_rng(1).integers(0, 256, size * size * 3, dtype=np.uint8).tobytes()
    outbox = conn.outbox  # type: ignore[attr-defined]
    i = 0
    while not stop.is_set():
        if outbox.queue_depth < outbox.max_frames:
            outbox.put_frame(m.Frame(frame_index=i, chunk_index=i // 2, width=size, height=size, pixels=pixels))
            i += 1
        else:
            time.sleep(0.0002)


def transport_fps(rt: object, url: str, size: int, seconds: float) -> float:
    """Frames/s an SDK Session receives from the runtime at `url` when its outbox is kept full."""
    with sdk.Session(url, prompt="benchmark", credits=16, timeout=30) as s:
        sess = next(x for x in rt.manager.sessions() if x.id == s.session_id)  # type: ignore[attr-defined]
        rt.engine.remove(sess)  # type: ignore[attr-defined]  # the model stops feeding this session
        time.sleep(0.2)
        stop = threading.Event()
        feeder = threading.Thread(target=feed_frames, args=(sess.owner, size, stop), daemon=True)
        feeder.start()
        it = s.frames(timeout=30)
        while next(it).width != size:  # skip the model's own frames still in flight
            pass
        for _ in range(5):
            next(it)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            next(it)
            n += 1
        fps = n / (time.perf_counter() - t0)
        stop.set()
        feeder.join(2)
    return fps


# ----------------------------------------------------------------------------------- model FPS
def client_fps(url: str, seconds: float) -> float:
    """Frames/s received by one Session at `url` (after its first frames)."""
    with sdk.Session(url, prompt="a red square moves right", seed=0, timeout=60) as s:
        it = s.frames(timeout=60)
        for _ in range(4):
            next(it)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            next(it)
            n += 1
        return n / (time.perf_counter() - t0)


def remote_fps(url: str, seconds: float) -> float:
    """client_fps measured by a separate client process (a remote client on loopback)."""
    out = subprocess.run([sys.executable, __file__, "--client", url, "--seconds", str(seconds)], capture_output=True,
                         text=True, timeout=120, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"client process failed: {out.stderr.strip()[-2000:]}")
    return float(json.loads(out.stdout.strip().splitlines()[-1])["fps"])


def transport_row(size: int, samples: dict[str, list[float]]) -> dict:
    """One frame size's figures from interleaved samples {"raw_tcp": [fps per round], "grpc": [...], ...}.

    Each transport's ratio to raw TCP is the median of its per-round ratios (the two sides of a ratio measured
    next to each other). A ratio above 1 (faster than a raw socket on the same frames, which no protocol on top
    of TCP can be) is reported as {"invalid": why, "measured": ...} instead of figures."""
    med = statistics.median
    mb = size * size * 3 / 1e6
    raw = samples["raw_tcp"]
    row: dict = {"raw_tcp": {"fps": round(med(raw), 1), "mb_s": round(med(raw) * mb, 1), "spread_fps": spread(raw)}}
    for name, fps_list in samples.items():
        if name == "raw_tcp":
            continue
        ratio = med([f / r for f, r in zip(fps_list, raw)])
        fig = bounded(ratio, 1.0, f"{name} / raw TCP", "no transport moves the same frames faster than a raw TCP "
                      "socket on the same machine")
        if fig["value"] is None:
            row[name] = {"invalid": fig["invalid"], "measured": {"ratio_to_raw_tcp": round(ratio, 3),
                                                                 "fps": [round(f, 1) for f in fps_list]}}
        else:
            fps = med(fps_list)
            row[name] = {"fps": round(fps, 1), "mb_s": round(fps * mb, 1), "ratio_to_raw_tcp": round(ratio, 3),
                         "spread_fps": spread(fps_list)}
    return row


def transports(result: dict, args: argparse.Namespace) -> None:
    """result["transport"]: every transport against raw TCP at each of SIZES, interleaved."""
    from runtime.serving.config import ServeConfig
    from runtime.serving.server import ServingRuntime
    from runtime.testing import tiny_pipeline

    rt = ServingRuntime(tiny_pipeline(), ServeConfig(pace=False, warm_up=False)).start()
    urls = {"grpc": f"grpc://127.0.0.1:{rt.serve_grpc('127.0.0.1', 0)}",
            "zmq": f"zmq://127.0.0.1:{rt.serve_zmq('127.0.0.1', 0)}",
            "ws": f"ws://127.0.0.1:{rt.serve_ws('127.0.0.1', 0)}/v1/session"}
    for size in SIZES:
        sides = {"raw_tcp": lambda size=size: raw_tcp_fps(size, args.seconds)}
        for name, url in urls.items():
            sides[name] = lambda url=url, size=size: transport_fps(rt, url, size, args.seconds)
        result["transport"][f"{size}x{size}"] = transport_row(size, interleaved(sides, args.reps))
    rt.shutdown()


def model_fps(args: argparse.Namespace) -> dict:
    """The FPS a client receives from the model in process and from a separate process over each transport."""
    from runtime.serving.config import ServeConfig
    from runtime.serving.local import install
    from runtime.serving.server import ServingRuntime
    from runtime.testing import tiny_pipeline

    med = statistics.median
    if args.checkpoint:
        from runtime.checkpoints import resolve
        from runtime.pipeline import StreamDiTPipeline

        pipe, name = StreamDiTPipeline.from_checkpoint(resolve(args.checkpoint)), str(args.checkpoint)
    else:
        pipe, name = tiny_pipeline(), "tiny random (32x32 px, D=32, depth 2)"
    rt = ServingRuntime(pipe, ServeConfig(pace=False)).start()
    rt.wait_warm()  # a first compile takes about a minute; the clients' timeouts start after it
    install(rt)
    urls = {"grpc": f"grpc://127.0.0.1:{rt.serve_grpc('127.0.0.1', 0)}",
            "zmq": f"zmq://127.0.0.1:{rt.serve_zmq('127.0.0.1', 0)}",
            "ws": f"ws://127.0.0.1:{rt.serve_ws('127.0.0.1', 0)}/v1/session"}
    sides = {"local": lambda: client_fps("local://", args.seconds)}
    for tname, url in urls.items():
        sides[tname] = lambda url=url: remote_fps(url, args.seconds)
    samples = interleaved(sides, args.reps)
    local = med(samples["local"])
    model: dict = {"name": name, "width": rt.model_info.width, "in_process_fps": round(local, 1),
                   "in_process_spread_fps": spread(samples["local"])}
    for tname in urls:
        fps = med(samples[tname])
        model[f"{tname}_remote_fps"] = round(fps, 1)
        model[f"{tname}_remote_spread_fps"] = spread(samples[tname])
        model[f"{tname}_remote_to_in_process"] = round(med([r / x for r, x in zip(samples[tname], samples["local"])]), 3)
    install(None)
    rt.shutdown()
    return model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=1.5, help="Length of one timed repetition, seconds.")
    ap.add_argument("--reps", type=int, default=3, help="Repetitions; medians are reported.")
    ap.add_argument("--checkpoint", default=None, help="Model for the FPS ratio (default: a tiny random model).")
    ap.add_argument("--part", choices=("all", "transport", "model"), default="all",
                    help="Measure the transports, the model's remote FPS, or both (default).")
    ap.add_argument("--client", default=None, help=argparse.SUPPRESS)  # internal: run as the remote client
    args = ap.parse_args()
    if args.client:
        print(json.dumps({"fps": client_fps(args.client, args.seconds)}))
        return

    import torch

    result: dict = {"benchmark": "transport", "seconds_per_rep": args.seconds, "reps": args.reps,
                    "torch_threads": torch.get_num_threads(), "machine": platform.machine(),
                    "cpus": os.cpu_count(), "transport": {}}

    if args.part != "model":
        transports(result, args)
    if args.part != "transport":
        result["model"] = model_fps(args)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
