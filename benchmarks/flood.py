"""Benchmark floods: one client floods the runtime while a second session streams; the second session's largest
frame gap (issue 18: a flood from one client must cost the others little).

Prints one JSON line. This process serves the model (an in-process ServingRuntime, paced at the model's frame
rate, over gRPC and ZeroMQ on loopback). Each round runs every scenario once, in a rotated order; in each
scenario a victim process (sdk.Session over --victim-transport) streams, and, after it is streaming, an
attacker process floods for --seconds while the victim records the arrival time of every frame:

- none: no attacker (the baseline);
- cpu_hog: an attacker process that only spins on the CPU and sends nothing: what any process that takes one of
  this machine's cores costs the victim, the floor under every flood below (each flooder spins a core too);
- second_session: a well-behaved second client streaming over gRPC: what one more session costs (the engine
  steps both streams in one batch); the gRPC flooder below holds a session too, until its idle timeout;
- grpc_event_flood: one gRPC Session stream pushing events as fast as it can (the tester's 10,000/s);
- zmq_handshake_churn: one ZeroMQ connection opening and closing sessions as fast as it is answered;
- zmq_garbage_flood: one ZeroMQ connection sending undecodable messages as fast as libzmq takes them.

Per scenario: the victim's largest gap between two frames (max_gap_s; the median over rounds and every
round's value), its 99th-percentile gap, the frames per second it received, and the attacker's messages per
second, the CPU (in cores) the serving process and the attacker used, and how much the serving process's
resident memory grew during the scenario. Frames of one chunk arrive together, so the gap between chunks (frames_per_chunk / fps) is the floor
of max_gap_s. A victim FPS above the paced frame rate (plus one chunk of slack) cannot be and is reported as
invalid.

    python benchmarks/flood.py [--checkpoint default] [--compile off] [--seconds 8] [--reps 3]
        [--victim-transport zmq]      # --checkpoint tiny: a small random model, no weights
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: spinning OpenMP workers starve the I/O threads
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SCENARIOS = ("none", "cpu_hog", "second_session", "grpc_event_flood", "zmq_handshake_churn", "zmq_garbage_flood")
PROMPT = "the player walks left across the grass"


# ----------------------------------------------------------------------------------- the victim process
def run_victim(url: str, seconds: float, settle: float) -> dict:
    """Stream from `url`; print "ready" once streaming (after `settle` s), then record `seconds` of frames."""
    import sdk

    with sdk.Session(url, prompt=PROMPT, seed=0, timeout=120) as s:
        frames = s.frames(timeout=60)
        next(frames)
        t_ready = time.monotonic() + settle
        for f in frames:
            if time.monotonic() >= t_ready:
                break
        print("ready", flush=True)
        stamps = []
        t_end = time.monotonic() + seconds
        for f in frames:
            stamps.append(f.received_us / 1e6)
            if time.monotonic() >= t_end:
                break
    gaps = sorted(b - a for a, b in zip(stamps, stamps[1:]))
    p99 = gaps[min(len(gaps) - 1, int(0.99 * len(gaps)))] if gaps else float("nan")
    return {"frames": len(stamps), "max_gap_s": round(gaps[-1], 3) if gaps else None, "p99_gap_s": round(p99, 3),
            "fps": round((len(stamps) - 1) / max(stamps[-1] - stamps[0], 1e-6), 2) if len(stamps) > 1 else 0.0}


# ----------------------------------------------------------------------------------- the attacker process
def attack_grpc_events(url: str, seconds: float) -> int:
    import grpc

    from sdk.protocol import messages as m
    from sdk.protocol import proto_codec

    channel = grpc.insecure_channel(url.removeprefix("grpc://"))
    call = channel.stream_stream("/streamdit.v1.Runtime/Session", request_serializer=lambda b: b,
                                 response_deserializer=lambda b: b)
    hello = proto_codec.to_proto(m.Handshake(client_name="flood", settings=m.SessionSettings(prompt="flood"))
                                 ).SerializeToString()
    sent = [0]
    t_end = time.monotonic() + seconds

    def requests():
        yield hello
        i = 0
        while time.monotonic() < t_end:
            i += 1
            yield proto_codec.to_proto(m.Event(event_id=i, event_type="player_moves_left")).SerializeToString()
            sent[0] += 1

    responses = call(requests())
    drain = threading.Thread(target=lambda: [None for _ in responses], daemon=True)  # read every answer
    drain.start()
    time.sleep(seconds + 0.5)
    responses.cancel()
    channel.close()
    return sent[0]


def attack_zmq(url: str, seconds: float, churn: bool) -> int:
    import zmq

    from sdk.protocol import messages as m
    from sdk.protocol import msgpack_codec

    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(url.replace("zmq://", "tcp://"))
    hello = msgpack_codec.encode(m.Handshake(client_name="churn", settings=m.SessionSettings(prompt="churn")))
    close = msgpack_codec.encode(m.Close())
    garbage = [os.urandom(64)]
    sent, t_end = 0, time.monotonic() + seconds
    while time.monotonic() < t_end:
        if not churn:
            try:
                sock.send_multipart(garbage, zmq.NOBLOCK)
                sent += 1
            except zmq.Again:
                pass
            while sock.poll(0):  # read the answers too
                sock.recv_multipart()
            continue
        sock.send_multipart(hello)
        sent += 1
        if sock.poll(1000):
            reply = msgpack_codec.decode_server(sock.recv_multipart())
            if isinstance(reply, m.HandshakeReply):
                sock.send_multipart(close)
                sent += 1
                while sock.poll(1000):
                    if isinstance(msgpack_codec.decode_server(sock.recv_multipart()), m.Closed):
                        break
    sock.close(0)
    return sent


def run_attacker(mode: str, url: str, seconds: float) -> dict:
    """Flood for `seconds`; the messages sent per second and the CPU the attacker itself used (cores)."""
    if mode == "cpu_hog":
        t_end, sent = time.monotonic() + seconds, 0
        while time.monotonic() < t_end:
            pass
    elif mode == "second_session":
        import sdk

        sent, t_end = 0, time.monotonic() + seconds
        with sdk.Session(url, prompt=PROMPT, seed=1, timeout=120) as s:
            for _ in s.frames(timeout=60):
                sent += 1  # credits, one per frame
                if time.monotonic() >= t_end:
                    break
    elif mode == "grpc_event_flood":
        sent = attack_grpc_events(url, seconds)
    else:
        sent = attack_zmq(url, seconds, churn=mode == "zmq_handshake_churn")
    return {"sent": sent, "msgs_per_s": round(sent / seconds, 1), "cpu_cores": round(time.process_time() / seconds, 2)}


# ----------------------------------------------------------------------------------- one scenario
def child(*args: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, __file__, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def rss_mb() -> float:
    """This process's resident memory, MB (Linux /proc; 0.0 elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def scenario(name: str, urls: dict[str, str], victim_transport: str, seconds: float) -> dict:
    rss0, cpu0, t0 = rss_mb(), time.process_time(), time.monotonic()
    victim = child("--role", "victim", "--url", urls[victim_transport], "--seconds", str(seconds))
    attacker = None
    try:
        line = victim.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"victim did not start: {line} {victim.stderr.read()[-2000:]}")
        if name != "none":
            target = urls["zmq"] if name.startswith("zmq") else urls["grpc"]
            attacker = child("--role", "attacker", "--mode", name, "--url", target, "--seconds", str(seconds + 1))
        out, err = victim.communicate(timeout=seconds + 120)
        if victim.returncode != 0:
            raise RuntimeError(f"victim failed: {err[-2000:]}")
        result = json.loads(out.strip().splitlines()[-1])
        if attacker is not None:
            a_out, a_err = attacker.communicate(timeout=seconds + 60)
            if attacker.returncode != 0:
                raise RuntimeError(f"attacker failed: {a_err[-2000:]}")
            result["attack"] = json.loads(a_out.strip().splitlines()[-1])
        result["server_rss_growth_mb"] = round(rss_mb() - rss0, 1)
        result["server_cpu_cores"] = round((time.process_time() - cpu0) / (time.monotonic() - t0), 2)
        return result
    finally:
        for p in (victim, attacker):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()


def summarize(rounds: list[dict], fps: float, frames_per_chunk: int) -> dict:
    """Medians over rounds of one scenario, with the paced frame rate as the victim FPS bound."""
    from benchmarks.common import bounded

    med = statistics.median
    gaps = [r["max_gap_s"] for r in rounds]
    out = {"max_gap_s": round(med(gaps), 3), "max_gap_s_per_round": gaps,
           "p99_gap_s": round(med([r["p99_gap_s"] for r in rounds]), 3)}
    vfps = med([r["fps"] for r in rounds])
    fig = bounded(vfps, fps * 1.1 + frames_per_chunk, "victim FPS", f"the runtime is paced at {fps:g} FPS")
    if fig["value"] is None:
        out.update(victim_fps=None, invalid=fig["invalid"])
    else:
        out["victim_fps"] = round(vfps, 2)
    out["server_rss_growth_mb_max"] = max(r["server_rss_growth_mb"] for r in rounds)
    out["server_cpu_cores"] = round(med([r["server_cpu_cores"] for r in rounds]), 2)
    if rounds and "attack" in rounds[0]:
        out["attack_msgs_per_s"] = round(med([r["attack"]["msgs_per_s"] for r in rounds]), 1)
        out["attacker_cpu_cores"] = round(med([r["attack"]["cpu_cores"] for r in rounds]), 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", default="default", help="Model to serve: a shipped name, a directory, or "
                    "'tiny' (a small random model).")
    ap.add_argument("--compile", default="off", choices=["auto", "on", "off"], help="torch.compile the DiT.")
    ap.add_argument("--seconds", type=float, default=8.0, help="Length of one flood, seconds.")
    ap.add_argument("--reps", type=int, default=3, help="Rounds; each runs every scenario once.")
    ap.add_argument("--victim-transport", default="zmq", choices=["zmq", "grpc"])
    ap.add_argument("--role", default=None, help=argparse.SUPPRESS)  # internal: victim / attacker processes
    ap.add_argument("--mode", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--url", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.role == "victim":
        print(json.dumps(run_victim(args.url, args.seconds, settle=2.0)))
        return
    if args.role == "attacker":
        print(json.dumps(run_attacker(args.mode, args.url, args.seconds)))
        return

    from benchmarks.common import interleaved
    from runtime.serving.config import ServeConfig
    from runtime.serving.server import ServingRuntime

    if args.checkpoint == "tiny":
        from runtime.testing import tiny_pipeline

        pipe = tiny_pipeline()
    else:
        from runtime.checkpoints import resolve
        from runtime.pipeline import StreamDiTPipeline

        pipe = StreamDiTPipeline.from_checkpoint(resolve(args.checkpoint))
    rt = ServingRuntime(pipe, ServeConfig(compile=args.compile)).start()
    rt.wait_warm()
    urls = {"grpc": f"grpc://127.0.0.1:{rt.serve_grpc('127.0.0.1', 0)}",
            "zmq": f"zmq://127.0.0.1:{rt.serve_zmq('127.0.0.1', 0)}"}
    runs: dict[str, list[dict]] = {name: [] for name in SCENARIOS}

    def side(name: str):
        def run() -> float:
            runs[name].append(scenario(name, urls, args.victim_transport, args.seconds))
            return runs[name][-1]["max_gap_s"]
        return run

    try:
        interleaved({name: side(name) for name in SCENARIOS}, args.reps)
    finally:
        rt.shutdown()
    info = rt.model_info
    print(json.dumps({
        "benchmark": "flood", "model": args.checkpoint, "compile": args.compile, "fps": info.fps,
        "frames_per_chunk": info.frames_per_chunk, "victim_transport": args.victim_transport,
        "seconds": args.seconds, "reps": args.reps, "cpus": os.cpu_count(), "machine": platform.machine(),
        "chunk_period_s": round(info.frames_per_chunk / info.fps, 3),
        "scenarios": {name: summarize(runs[name], info.fps, info.frames_per_chunk) for name in SCENARIOS}}))


if __name__ == "__main__":
    main()
