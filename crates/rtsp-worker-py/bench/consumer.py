"""Results delivered to a Python consumer: the Python half of `cargo xtask bench python`.

The same setup as the Rust consumer it is compared with (crates/rtsp-worker/examples/e2e.rs,
pipeline mode): N streams of the 720p25 pedestrian clip from the loopback RTSP server, the
provisioned model on the CPU, batch 16, force timeout 50 ms; results counted per stream over
a window after a warm-up; the process's CPU time (every thread, Rust's included) over the
window.

    consumer.py --mode iterator|callback|queue [--streams N] [--warmup S] [--window S]
        [--stand-in MS] --json OUT

`--stand-in MS` replaces the model with the facade's fixed-cost stand-in (as the Rust side's
`--stand-in`), so that results come at the cameras' rate and what the Python side costs per
result shows: the CPU of handing results to Python over the window, as the module measures it
per thread (bridge completions, callback deliveries with the callbacks) plus the event loop's
thread (from /proc).
"""
import argparse
import asyncio
import json
import os
import pathlib
import subprocess
import sys
import threading
import time

import rtsp_worker

ROOT = pathlib.Path(__file__).resolve().parents[3]
CLIP = pathlib.Path(os.environ["RTSP_WORKER_CLIPS"]) / "vtest_720p25.h264"


TICK = os.sysconf("SC_CLK_TCK")


def delivery_cpu():
    """CPU seconds spent handing results to Python: what the engine's threads spent in it
    (bridge completions, callback deliveries with the callbacks, measured by the module per
    thread) and the event loop's thread (from /proc)."""
    stat = pathlib.Path(f"/proc/self/task/{os.getpid()}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    main_thread = (int(fields[11]) + int(fields[12])) / TICK
    return rtsp_worker._native.delivery_cpu_seconds() + main_thread


def start_server():
    p = subprocess.Popen(
        ["/usr/bin/python3", str(ROOT / "crates/testkit/rtsp_server.py"), "--port", "0", f"/cam={CLIP}"],
        stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
    )
    line = [""]
    t = threading.Thread(target=lambda: line.__setitem__(0, p.stdout.readline()))
    t.start()
    t.join(20)
    if not line[0].startswith("READY "):
        p.kill()
        sys.exit(f"the RTSP server did not start: {line[0]!r}")
    # As the Rust side does: the server must not take CPU from the pipeline.
    subprocess.run(["renice", "-n", "19", "-p", str(p.pid)], stdout=subprocess.DEVNULL, check=False)
    return p, f"rtsp://127.0.0.1:{line[0].split()[1]}/cam"


async def main(a):
    server, url = start_server()
    try:
        m = rtsp_worker.StreamConnectionManager(
            batch_size=16, force_timeout=0.05, _stand_in_detector_ms=a.stand_in
        )
        await m.initialize()
        loop = asyncio.get_running_loop()
        window = {"start": float("inf"), "end": float("inf")}
        counts = [0] * a.streams
        latencies = []
        callback_cpu = [0.0]

        def take(i, r):
            now = time.monotonic()
            if window["start"] <= now < window["end"]:
                counts[i] += 1
                latencies.append(r.latency_ms)

        async def read(i, c):
            if a.mode == "iterator":
                async for r in c.tracking_results():
                    take(i, r)
            else:
                q = c.result_queue
                while True:
                    try:
                        take(i, await q.get())
                    except rtsp_worker.QueueShutDown:
                        return

        def on_result_of(i):
            def on_result(r):
                t0 = time.thread_time()
                take(i, r)
                callback_cpu[0] += time.thread_time() - t0
            return on_result

        conns, readers = [], []
        for i in range(a.streams):
            if a.mode == "callback":
                c = await m.connect_stream(url, stream_id=f"cam{i}", on_tracking_result=on_result_of(i))
            else:
                c = await m.connect_stream(url, stream_id=f"cam{i}")
                readers.append(asyncio.create_task(read(i, c)))
            conns.append(c)
        for c in conns:
            await c.wait_connected(30)
        await asyncio.sleep(a.warmup)
        window["start"] = time.monotonic()
        window["end"] = window["start"] + a.window
        cpu0, delivery0 = time.process_time(), delivery_cpu()
        await asyncio.sleep(a.window)
        secs = time.monotonic() - window["start"]
        cpu, delivery = time.process_time() - cpu0, delivery_cpu() - delivery0
        detector = m.get_stats()["model_controller"]["detector"]
        stats = await m.shutdown()
        for t in readers:
            await t
        latencies.sort()
        results = sum(counts)
        out = {
            "kind": f"python_{a.mode}",
            "streams": a.streams,
            "processed_per_s": results / secs,
            "per_stream": counts,
            "latency_ms_p50": latencies[len(latencies) // 2] if latencies else 0,
            "latency_ms_p99": latencies[int(len(latencies) * 0.99)] if latencies else 0,
            "cpu_percent": cpu / secs * 100,
            "detector_ms_p50": detector["batch_ms"]["p50"],
            "cpu_ms_per_result": cpu / max(results, 1) * 1e3,
            "callback_python_ms_per_result": callback_cpu[0] / max(results, 1) * 1e3,
            "delivery_ms_per_result": delivery / max(results, 1) * 1e3,
            "balanced": all(
                s["accounting"]["received"] == s["accounting"]["results"] + sum(s["accounting"]["dropped"].values()) + s["accounting"]["in_pipeline"]
                for s in stats["connections"].values()
            ),
            "consumer_too_slow": sum(s["accounting"]["dropped"]["consumer_too_slow"] for s in stats["connections"].values()),
        }
        pathlib.Path(a.json).write_text(json.dumps(out))
        print(json.dumps(out))
    finally:
        server.kill()
        server.wait()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--mode", choices=["iterator", "callback", "queue"], required=True)
    p.add_argument("--streams", type=int, default=4)
    p.add_argument("--warmup", type=float, default=8)
    p.add_argument("--window", type=float, default=30)
    p.add_argument("--stand-in", type=float, default=None)
    p.add_argument("--json", required=True)
    asyncio.run(main(p.parse_args()))
