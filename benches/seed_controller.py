"""The seed's ModelController batching, reproduced, fed an arrival schedule in real time.

The seed design (EVENT_DRIVEN_DESIGN.md, "ModelController with Ping-Pong Buffers") batches
frames in asyncio with two buffers, A and B:
  - submit_frame appends to the active buffer under a lock, stamps last_submit_time, and when
    the active buffer holds >= batch_size frames tries a swap;
  - _timeout_monitor wakes every 10 ms and, once force_timeout has passed since the LAST
    submit (not since the oldest waiting frame), tries a swap if the active buffer is not empty;
  - _try_swap_buffers swaps only if the other buffer is not PROCESSING, and marks the old
    active buffer PROCESSING; nothing caps it at batch_size;
  - _batch_processor wakes every 1 ms and runs each PROCESSING buffer in turn, the model in
    the default executor (a thread), awaiting it before it looks again.
Here the model is time.sleep(work_base + work_per_item * len(batch)) in that executor;
everything else keeps the seed's structure. Instrumentation only records times and counts.

Everything but the polling intervals comes from the schedule file that
`cargo run -p batcher --release --example arrivals -- --schedule PATH` writes, so both sides
run the same arrivals with the same batch size, force timeout and work time:
    python3 benches/seed_controller.py --schedule target/bench/arrivals_dense.json \
        --poll 0.010 --json target/bench/seed10_arrivals_dense.json
--poll is the timeout monitor's interval (the seed: 0.010), --processor-poll the batch
processor's (the seed: 0.001). Wait = _process_buffer takes the batch - submit_frame is called.
    python3 benches/seed_controller.py --table A.json B.json ...
prints a Markdown table of result files (ours and the seed's). Standard library only.
"""
import argparse
import asyncio
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from enum import Enum

# The seed stamps with time.time(); a monotonic clock has the same semantics without jumps.
clock = time.monotonic


@dataclass
class BatchFrame:
    stream_id: int
    frame: object
    timestamp: float
    metadata: dict = field(default_factory=dict)


class BufferState(Enum):
    IDLE = "idle"
    FILLING = "filling"
    PROCESSING = "processing"


class ModelController:
    """The seed's ModelController, batching only: no tensors, no callbacks."""

    def __init__(self, batch_size, force_timeout, work_base, work_per_item, poll, processor_poll):
        self.batch_size = batch_size
        self.force_timeout = force_timeout
        self.work_base = work_base
        self.work_per_item = work_per_item
        self.poll = poll  # the seed: asyncio.sleep(0.01) in _timeout_monitor
        self.processor_poll = processor_poll  # the seed: asyncio.sleep(0.001) in _batch_processor
        self.buffer_a = []
        self.buffer_b = []
        self.active_buffer = "A"
        self.buffer_a_state = BufferState.IDLE
        self.buffer_b_state = BufferState.IDLE
        self.buffer_lock = asyncio.Lock()
        self.last_submit_time = clock()
        self.timeout_task = None
        self.processor_task = None
        self.running = False
        # Instrumentation.
        self.waits = []
        self.sizes = []
        self.triggers = {"full": 0, "timeout": 0}
        self.swaps_refused = 0

    async def start(self):
        self.running = True
        self.timeout_task = asyncio.create_task(self._timeout_monitor())
        self.processor_task = asyncio.create_task(self._batch_processor())

    async def stop(self):
        self.running = False
        for task in (self.timeout_task, self.processor_task):
            if task:
                task.cancel()
        await asyncio.gather(self.timeout_task, self.processor_task, return_exceptions=True)
        if self.buffer_a:
            await self._process_buffer("A")
        if self.buffer_b:
            await self._process_buffer("B")

    async def submit_frame(self, stream_id, frame, submitted):
        async with self.buffer_lock:
            batch_frame = BatchFrame(stream_id, frame, clock(), {"submitted": submitted})
            if self.active_buffer == "A":
                self.buffer_a.append(batch_frame)
                self.buffer_a_state = BufferState.FILLING
                buffer_size = len(self.buffer_a)
            else:
                self.buffer_b.append(batch_frame)
                self.buffer_b_state = BufferState.FILLING
                buffer_size = len(self.buffer_b)
            self.last_submit_time = clock()
            if buffer_size >= self.batch_size:
                await self._try_swap_buffers("full")

    async def _timeout_monitor(self):
        while self.running:
            await asyncio.sleep(self.poll)
            async with self.buffer_lock:
                time_since_submit = clock() - self.last_submit_time
                if time_since_submit >= self.force_timeout:
                    active = self.buffer_a if self.active_buffer == "A" else self.buffer_b
                    if len(active) > 0:
                        await self._try_swap_buffers("timeout")

    async def _try_swap_buffers(self, trigger):
        # Called with buffer_lock held. `trigger` is instrumentation only.
        inactive_state = self.buffer_b_state if self.active_buffer == "A" else self.buffer_a_state
        if inactive_state != BufferState.PROCESSING:
            old_active = self.active_buffer
            self.active_buffer = "B" if old_active == "A" else "A"
            if old_active == "A":
                self.buffer_a_state = BufferState.PROCESSING
            else:
                self.buffer_b_state = BufferState.PROCESSING
            self.triggers[trigger] += 1
        else:
            self.swaps_refused += 1

    async def _batch_processor(self):
        while self.running:
            await asyncio.sleep(self.processor_poll)
            if self.buffer_a_state == BufferState.PROCESSING:
                await self._process_buffer("A")
            if self.buffer_b_state == BufferState.PROCESSING:
                await self._process_buffer("B")

    async def _process_buffer(self, buffer_name):
        async with self.buffer_lock:
            if buffer_name == "A":
                batch = self.buffer_a.copy()
                self.buffer_a.clear()
            else:
                batch = self.buffer_b.copy()
                self.buffer_b.clear()
        taken = clock()
        if len(batch) == 0:
            async with self.buffer_lock:
                if buffer_name == "A":
                    self.buffer_a_state = BufferState.IDLE
                else:
                    self.buffer_b_state = BufferState.IDLE
            return
        self.waits.extend(taken - f.metadata["submitted"] for f in batch)
        self.sizes.append(len(batch))
        try:
            await self._run_batch_inference(batch)
        finally:
            async with self.buffer_lock:
                if buffer_name == "A":
                    self.buffer_a_state = BufferState.IDLE
                else:
                    self.buffer_b_state = BufferState.IDLE

    async def _run_batch_inference(self, batch):
        # The seed runs the (synchronous) TensorRT call in the default executor.
        work = self.work_base + self.work_per_item * len(batch)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, time.sleep, work)
        return [{"stream_id": f.stream_id} for f in batch]

    def idle(self):
        return (
            not self.buffer_a
            and not self.buffer_b
            and self.buffer_a_state != BufferState.PROCESSING
            and self.buffer_b_state != BufferState.PROCESSING
        )


def context_switches():
    """Context switches of every live thread, as the Rust side counts them (None off Linux)."""
    total = 0
    try:
        for task in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{task}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
                        total += int(line.split(":")[1])
    except OSError:
        return None
    return total


def percentile(sorted_values, q):
    """Nearest rank, as in crates/batcher/examples/arrivals.rs."""
    if not sorted_values:
        return 0.0
    rank = min(max(math.ceil(q * len(sorted_values)), 1), len(sorted_values))
    return sorted_values[rank - 1]


def summary_ms(values):
    v = sorted(values)
    return {
        "p50": round(percentile(v, 0.5) * 1e3, 3),
        "p99": round(percentile(v, 0.99) * 1e3, 3),
        "max": round((v[-1] if v else 0.0) * 1e3, 3),
        "mean": round((sum(v) / len(v) if v else 0.0) * 1e3, 3),
    }


async def run(sched, poll, processor_poll, idle_s):
    arrivals = sched["arrivals"]
    mc = ModelController(
        sched["batch_size"],
        sched["force_timeout_s"],
        sched["work_base_s"],
        sched["work_per_item_s"],
        poll,
        processor_poll,
    )
    await mc.start()
    # Start the executor's thread now, not on the first batch.
    await asyncio.get_running_loop().run_in_executor(None, time.sleep, 0)

    # The feeder: one coroutine sleeps until each arrival and submits it.
    cpu0 = time.process_time()
    t0 = clock() + 0.1
    lateness = []
    for a in arrivals:
        due = t0 + a["t"]
        delay = due - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        submitted = clock()
        lateness.append(submitted - due)
        await mc.submit_frame(a["stream"], None, submitted)
    drain_deadline = clock() + 10.0
    while (len(mc.waits) < len(arrivals) or not mc.idle()) and clock() < drain_deadline:
        await asyncio.sleep(0.01)
    busy = clock() - t0
    cpu_busy = time.process_time() - cpu0

    # Idle: the controller stays up with nothing arriving.
    await asyncio.sleep(0.5)
    cpu1, cs1, idle0 = time.process_time(), context_switches(), clock()
    await asyncio.sleep(idle_s)
    cpu2, cs2 = time.process_time(), context_switches()
    idle = clock() - idle0
    await mc.stop()

    hist = {}
    for s in mc.sizes:
        hist[s] = hist.get(s, 0) + 1
    return {
        "impl": f"seed ModelController (monitor {poll * 1e3:g} ms, processor {processor_poll * 1e3:g} ms)",
        "scenario": sched["scenario"],
        "params": {
            "batch_size": sched["batch_size"],
            "force_timeout_ms": sched["force_timeout_s"] * 1e3,
            "work_base_ms": sched["work_base_s"] * 1e3,
            "work_per_item_ms": sched["work_per_item_s"] * 1e3,
            "poll_ms": poll * 1e3,
            "processor_poll_ms": processor_poll * 1e3,
        },
        "items": len(arrivals),
        "dispatched": len(mc.waits),
        "dropped": 0,
        "batches": len(mc.sizes),
        "wait_ms": summary_ms(mc.waits),
        "lateness_ms": summary_ms(lateness),
        "batch_size": {
            "mean": round(sum(mc.sizes) / max(len(mc.sizes), 1), 3),
            "max": max(mc.sizes, default=0),
            "over_batch_size": sum(1 for s in mc.sizes if s > sched["batch_size"]),
            "hist": {str(k): hist[k] for k in sorted(hist)},
        },
        "triggers": dict(mc.triggers, swaps_refused=mc.swaps_refused),
        "cpu": {
            "busy_pct": round(100.0 * cpu_busy / busy, 3),
            "idle_pct": round(100.0 * (cpu2 - cpu1) / idle, 4),
            "idle_s": round(idle, 3),
            "idle_wakeups_per_s": round((cs2 - cs1) / idle, 1) if cs1 is not None and cs2 is not None else -1,
        },
    }


def table(paths):
    rows = [
        "| scenario | implementation | items | wait p50 ms | wait p99 ms | wait max ms "
        "| mean batch (max) | batches full/timeout | idle CPU % | idle wake-ups/s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in paths:
        with open(p) as f:
            r = json.load(f)
        w, b, c, t = r["wait_ms"], r["batch_size"], r["cpu"], r["triggers"]
        rows.append(
            f"| {r['scenario']} | {r['impl']} | {r['dispatched']}/{r['items']} | {w['p50']:.2f} "
            f"| {w['p99']:.2f} | {w['max']:.2f} | {b['mean']:.2f} ({b['max']}) "
            f"| {t['full']}/{t['timeout']} | {c['idle_pct']:.3f} | {c['idle_wakeups_per_s']:.0f} |"
        )
    return "\n".join(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--schedule", help="arrival schedule JSON written by the arrivals example")
    ap.add_argument("--poll", type=float, default=0.010, help="timeout monitor interval, s (seed: 0.010)")
    ap.add_argument("--processor-poll", type=float, default=0.001, help="batch processor interval, s (seed: 0.001)")
    ap.add_argument("--idle-seconds", type=float, help="idle window, s (default: the schedule's idle_s)")
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--table", nargs="+", metavar="RESULT", help="print a Markdown table of result files and exit")
    a = ap.parse_args()
    if a.table:
        print(table(a.table))
        return
    if not a.schedule:
        ap.error("--schedule is required")
    with open(a.schedule) as f:
        sched = json.load(f)
    idle_s = a.idle_seconds if a.idle_seconds is not None else sched.get("idle_s", 3.0)
    r = asyncio.run(run(sched, a.poll, a.processor_poll, idle_s))
    w, b, c = r["wait_ms"], r["batch_size"], r["cpu"]
    print(
        f"{r['scenario']} ({r['items']} items): {r['impl']}: wait p50 {w['p50']:.2f} ms "
        f"p99 {w['p99']:.2f} ms max {w['max']:.2f} ms, mean batch {b['mean']:.2f} (max {b['max']}), "
        f"idle CPU {c['idle_pct']:.3f}% ({c['idle_wakeups_per_s']:.0f} wake-ups/s)"
    )
    if a.json:
        os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
        with open(a.json, "w") as f:
            json.dump(r, f)
            f.write("\n")
    if r["dispatched"] != r["items"]:
        sys.exit(f"only {r['dispatched']} of {r['items']} items were dispatched")


if __name__ == "__main__":
    main()
