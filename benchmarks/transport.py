"""Benchmark the frame transports: gRPC and ZeroMQ against a raw TCP socket, and remote against in-process FPS.

Prints one JSON line, everything measured side by side in this one run (medians of --reps repetitions):

- transport: for 128x128 and 512x512 RGB frames, frames/s and MB/s through gRPC and through ZeroMQ (runtime
  server -> SDK Session, credits, encode and decode included), and through a raw TCP socket (length-prefixed
  frames, no protocol) as the ceiling; each transport's ratio to that ceiling. Frames are fed straight into
  the session's outbox, so the model is not the bottleneck. Server and client share this process, as do the
  raw socket's two ends.
- model: the FPS a client receives from the same model (pace off) in process (local://) and from a separate
  client process over gRPC and over ZeroMQ, and the ratios remote / in-process.

    python benchmarks/transport.py [--seconds 1.5] [--reps 3] [--checkpoint DIR]
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
from sdk.protocol import messages as m  # noqa: E402

SIZES = (128, 512)


# ----------------------------------------------------------------------------------- raw TCP ceiling
def raw_tcp_fps(size: int, seconds: float) -> float:
    """Frames/s of length-prefixed size x size x 3 frames over a loopback TCP socket (sender thread -> receiver)."""
    payload = np.random.default_rng(0).integers(0, 256, size * size * 3, dtype=np.uint8).tobytes()
    header = struct.pack("<Q", len(payload))
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    stop = threading.Event()

    def send() -> None:
        conn, _ = srv.accept()
        try:
            while not stop.is_set():
                conn.sendall(header)
                conn.sendall(payload)
        except OSError:
            pass
        finally:
            conn.close()

    t = threading.Thread(target=send, daemon=True)
    t.start()
    cli = socket.create_connection(srv.getsockname())
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=1.5, help="Length of one timed repetition, seconds.")
    ap.add_argument("--reps", type=int, default=3, help="Repetitions; medians are reported.")
    ap.add_argument("--checkpoint", default=None, help="Model for the FPS ratio (default: a tiny random model).")
    ap.add_argument("--client", default=None, help=argparse.SUPPRESS)  # internal: run as the remote client
    args = ap.parse_args()
    if args.client:
        print(json.dumps({"fps": client_fps(args.client, args.seconds)}))
        return

    import torch

    from runtime.serving.config import ServeConfig
    from runtime.serving.local import install
    from runtime.serving.server import ServingRuntime
    from runtime.serving.testing import tiny_pipeline

    med = statistics.median
    result: dict = {"benchmark": "transport", "seconds_per_rep": args.seconds, "reps": args.reps,
                    "torch_threads": torch.get_num_threads(), "machine": platform.machine(),
                    "cpus": os.cpu_count(), "transport": {}}

    rt = ServingRuntime(tiny_pipeline(), ServeConfig(pace=False, warm_up=False)).start()
    urls = {"grpc": f"grpc://127.0.0.1:{rt.serve_grpc('127.0.0.1', 0)}",
            "zmq": f"zmq://127.0.0.1:{rt.serve_zmq('127.0.0.1', 0)}"}
    for size in SIZES:
        mb = size * size * 3 / 1e6
        row: dict = {}
        raw = med(raw_tcp_fps(size, args.seconds) for _ in range(args.reps))
        row["raw_tcp"] = {"fps": round(raw, 1), "mb_s": round(raw * mb, 1)}
        for name, url in urls.items():
            fps = med(transport_fps(rt, url, size, args.seconds) for _ in range(args.reps))
            row[name] = {"fps": round(fps, 1), "mb_s": round(fps * mb, 1), "ratio_to_raw_tcp": round(fps / raw, 3)}
        result["transport"][f"{size}x{size}"] = row
    rt.shutdown()

    if args.checkpoint:
        from runtime.checkpoints import resolve
        from runtime.pipeline import StreamDiTPipeline

        pipe, name = StreamDiTPipeline.from_checkpoint(resolve(args.checkpoint)), str(args.checkpoint)
    else:
        pipe, name = tiny_pipeline(), "tiny random (32x32 px, D=32, depth 2)"
    rt = ServingRuntime(pipe, ServeConfig(pace=False)).start()
    install(rt)
    urls = {"grpc": f"grpc://127.0.0.1:{rt.serve_grpc('127.0.0.1', 0)}",
            "zmq": f"zmq://127.0.0.1:{rt.serve_zmq('127.0.0.1', 0)}"}
    local = med(client_fps("local://", args.seconds) for _ in range(args.reps))
    model: dict = {"name": name, "width": rt.model_info.width, "in_process_fps": round(local, 1)}
    for tname, url in urls.items():
        fps = med(remote_fps(url, args.seconds) for _ in range(args.reps))
        model[f"{tname}_remote_fps"] = round(fps, 1)
        model[f"{tname}_remote_to_in_process"] = round(fps / local, 3)
    result["model"] = model
    install(None)
    rt.shutdown()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
