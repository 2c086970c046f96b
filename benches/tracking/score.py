"""Scores tracker outputs with py-motmetrics, for `cargo xtask track-eval`.

    score.py --self-test MOT15DIR
        motmetrics on the CEM tracker outputs it ships (test.txt) against the ground truth,
        checked against the figures its README publishes (MOTChallenge's devkit agrees).
    score.py MOT15DIR MANIFEST.json SCORES.json SUMMARY.md
        every file of the manifest ({tracker, seq, level, stride, file}) against its
        sequence's ground truth, on the frames the strided detector saw (IoU >= 0.5); both
        sequences pooled per tracker, level and stride.
"""
import json
import os
import sys
from collections import defaultdict

import motmetrics as mm

METRICS = [
    "mota",
    "idf1",
    "num_switches",
    "mostly_tracked",
    "mostly_lost",
    "num_false_positives",
    "num_misses",
    "num_fragmentations",
    "num_unique_objects",
    "num_frames",
]


def load(path):
    return mm.io.loadtxt(path, fmt="mot15-2D", min_confidence=1 if path.endswith("gt.txt") else -1)


def accumulate(gt, res):
    return mm.utils.compare_to_groundtruth(gt, res, "iou", distth=0.5)


def self_test(mot15):
    # motmetrics' README: TUD-Campus IDF1 55.8% MOTA 52.6% FP 13 FN 150 IDs 7;
    # TUD-Stadtmitte IDF1 64.5% MOTA 56.4% FP 45 FN 452 IDs 7.
    want = {"TUD-Campus": (0.558, 0.526, 13, 150, 7), "TUD-Stadtmitte": (0.645, 0.564, 45, 452, 7)}
    mh = mm.metrics.create()
    for seq, (idf1, mota, fp, fn, ids) in want.items():
        gt = load(os.path.join(mot15, seq, "gt.txt"))
        res = mm.io.loadtxt(os.path.join(mot15, seq, "test.txt"), fmt="mot15-2D")
        s = mh.compute(accumulate(gt, res), metrics=METRICS, name=seq)
        got = (
            round(float(s["idf1"].iloc[0]), 3),
            round(float(s["mota"].iloc[0]), 3),
            int(s["num_false_positives"].iloc[0]),
            int(s["num_misses"].iloc[0]),
            int(s["num_switches"].iloc[0]),
        )
        if got != (idf1, mota, fp, fn, ids):
            sys.exit(f"motmetrics self-test: {seq} gives {got}, published {(idf1, mota, fp, fn, ids)}")
        print(f"motmetrics self-test: {seq} IDF1 {got[0]:.3f} MOTA {got[1]:.3f} as published")


def main(mot15, manifest, scores_path, summary_path):
    entries = json.load(open(manifest))
    gts = {}
    groups = defaultdict(list)
    for e in entries:
        groups[(e["tracker"], e["level"], e["stride"])].append(e)
    mh = mm.metrics.create()
    rows = []
    for (tracker, level, stride), es in sorted(groups.items()):
        accs, names = [], []
        for e in es:
            gt = gts.get(e["seq"])
            if gt is None:
                gt = gts[e["seq"]] = load(os.path.join(mot15, e["seq"], "gt.txt"))
            frames = gt.index.get_level_values(0)
            fed = frames[(frames - 1) % stride == 0]
            gt_fed = gt[frames.isin(fed)]
            if os.path.getsize(e["file"]) > 0:
                res = mm.io.loadtxt(e["file"], fmt="mot15-2D")
            else:
                res = gt_fed.iloc[0:0]
            accs.append(accumulate(gt_fed, res))
            names.append(e["seq"])
        s = mh.compute_many(accs, metrics=METRICS, names=names, generate_overall=True)
        o = s.loc["OVERALL"]
        row = {"tracker": tracker, "level": level, "stride": stride}
        for m in METRICS:
            v = float(o[m])
            row[m] = round(v, 4) if m in ("mota", "idf1") else int(v)
        rows.append(row)
    with open(scores_path, "w") as f:
        f.write("[\n" + ",\n".join("  " + json.dumps(r) for r in rows) + "\n]\n")
    with open(summary_path, "w") as f:
        for level in ("easy", "medium", "hard"):
            for stride in (1, 3, 5):
                sel = [r for r in rows if r["level"] == level and r["stride"] == stride]
                if not sel:
                    continue
                every = {1: "every frame", 3: "every 3rd frame", 5: "every 5th frame"}.get(
                    stride, f"every {stride}th frame"
                )
                f.write(f"\n{level}, detector on {every}:\n\n")
                f.write("| tracker | MOTA | IDF1 | ID sw. | MT | ML | FP | FN | Frag |\n")
                f.write("|---|---|---|---|---|---|---|---|---|\n")
                for r in sorted(sel, key=lambda r: -r["idf1"]):
                    f.write(
                        f"| {r['tracker']} | {100 * r['mota']:.1f} | {100 * r['idf1']:.1f} | "
                        f"{r['num_switches']} | {r['mostly_tracked']} | {r['mostly_lost']} | "
                        f"{r['num_false_positives']} | {r['num_misses']} | {r['num_fragmentations']} |\n"
                    )
    print(f"scores: {scores_path}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--self-test":
        self_test(sys.argv[2])
    elif len(sys.argv) == 5:
        main(*sys.argv[1:])
    else:
        sys.exit(__doc__)
