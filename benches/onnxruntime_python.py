"""Python's onnxruntime on the same model and batches as crates/infer-trt/benches/detect.rs.

Run by `cargo xtask bench` with the onnxruntime and numpy wheels installed into the cache:
    python3 onnxruntime_python.py MODEL.onnx OUT.json
Prints and writes the median session.run latency per batch and thread count.
"""
import json
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort


def main(model, out):
    rows = []
    for threads in (1, 2):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        for batch in (1, 4, 8, 16):
            x = np.random.default_rng(0).random((batch, 3, 640, 640), dtype=np.float32)
            for _ in range(3):
                sess.run(None, {name: x})  # warm up
            times = []
            deadline = time.perf_counter() + 6.0
            while len(times) < 10 or (time.perf_counter() < deadline and len(times) < 50):
                t = time.perf_counter()
                sess.run(None, {name: x})
                times.append(time.perf_counter() - t)
            med = statistics.median(times)
            rows.append({"threads": threads, "batch": batch, "median_ms": med * 1e3, "images_per_s": batch / med})
            print(f"python onnxruntime {ort.__version__} threads={threads} batch={batch}: {med * 1e3:.1f} ms, {batch / med:.1f} img/s", flush=True)
    with open(out, "w") as f:
        json.dump(rows, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
