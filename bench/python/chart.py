"""reports/bench.png from reports/bench.json: inference, padding, the daily run's split, lookup,
the embed stage's CPU by component, serial vs pipelined, the projected cost by container shape and
a Batch child's lanes (bundled and through tsx);
and, when the report holds a GPU session's results, bench-gpu.png beside it.

Usage: chart.py bench.json bench.png
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def inference_panel(ax, result: dict | None, title: str) -> None:  # noqa: ANN001
    if not result:
        ax.set_visible(False)
        return
    batches = result["batches"]
    names = [c["name"] for c in batches[0]["contenders"]]
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        values = [next((c["peakFraction"] * 100 for c in b["contenders"] if c["name"] == name), 0) for b in batches]
        ax.bar([j + i * width for j in range(len(batches))], values, width, label=name)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(batches))], [f"B={b['batch']}" for b in batches])
    ax.set_ylabel("% of measured GEMM peak")
    ax.set_title(title)
    ax.legend(fontsize=7)


def pipelining_panels(cpu_ax, modes_ax, p: dict | None) -> None:  # noqa: ANN001
    """Where the embed stage's CPU goes, by component; serial vs pipelined side by side."""
    if not p:
        cpu_ax.set_visible(False)
        modes_ax.set_visible(False)
        return
    profile = p.get("profile")
    if profile:
        total = profile["stageCpuSeconds"] or 1
        rows = sorted(profile["cpuSecondsByComponent"].items(), key=lambda kv: kv[1])
        colors = ["#2a7" if k.startswith("inference") else "#999" for k, _ in rows]
        cpu_ax.barh([k.replace(" (", "\n(") for k, _ in rows], [100 * v / total for _, v in rows], color=colors)
        cpu_ax.axvline(70, color="black", linestyle=":", linewidth=1, label="70% goal for inference")
        cpu_ax.tick_params(axis="y", labelsize=7)
        cpu_ax.set_xlabel("% of the embed stage's CPU")
        cpu_ax.set_title(f"embed stage CPU by component ({p['users'] // 1000}k users, steady day, "
                         f"{profile['mode']})", fontsize=9)
        cpu_ax.legend(fontsize=7)
    else:
        cpu_ax.set_visible(False)
    rounds = p["rounds"]
    labels = [f"{r['mode']}\n#{i // 2 + 1}" for i, r in enumerate(rounds)]
    xs = range(len(rounds))
    modes_ax.bar([x - 0.2 for x in xs], [100 * r["inference"]["busyShare"] for r in rounds], 0.4,
                 label="lanes busy (% of stage time)", color="#47a")
    modes_ax.bar([x + 0.2 for x in xs], [100 * r["inference"].get("cpuShare", 0) for r in rounds], 0.4,
                 label="inference CPU (% of stage CPU)", color="#2a7")
    modes_ax.set_xticks(list(xs), labels, fontsize=7)
    modes_ax.set_ylabel("%")
    modes_ax.set_ylim(0, 100)
    twin = modes_ax.twinx()
    twin.plot(list(xs), [r["embedSeconds"] for r in rounds], "ko", label="embed stage s")
    twin.set_ylabel("embed stage seconds")
    twin.set_ylim(0, max(r["embedSeconds"] for r in rounds) * 1.3)
    mean = p["meanEmbedSeconds"]
    modes_ax.set_title(f"serial vs pipelined, side by side: pipelined/serial time {mean['ratio']}x", fontsize=9)
    handles = modes_ax.get_legend_handles_labels()
    more = twin.get_legend_handles_labels()
    modes_ax.legend(handles[0] + more[0], handles[1] + more[1], fontsize=7, loc="upper left")


def shapes_panel(ax, projection: dict | None) -> None:  # noqa: ANN001
    """Instance $/day by container shape (lanes per A10G) at the first projected DAU, fp32 and fp16."""
    rows = [r for r in (projection or {}).get("rows", []) if r.get("byShape")]
    if not rows:
        ax.set_visible(False)
        return
    dau = rows[0]["dailyActiveUsers"]
    rows = [r for r in rows if r["dailyActiveUsers"] == dau]
    labels = [f"{s['instance']}\n{s['partitionsPerJob']} lane(s)" for s in rows[0]["byShape"]]
    width = 0.8 / len(rows)
    for i, row in enumerate(rows):
        xs = [x + (i - (len(rows) - 1) / 2) * width for x in range(len(labels))]
        bars = ax.bar(xs, [s["usdPerDay"] for s in row["byShape"]], width, label=row["precision"],
                      color=["#47a", "#a74"][i % 2])
        for bar, shape in zip(bars, row["byShape"]):
            ax.annotate(shape["limitedBy"], (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="bottom", fontsize=6)
    ax.set_xticks(range(len(labels)), labels, fontsize=7)
    ax.set_ylabel("instance $/day (on-demand)")
    ax.set_title(f"projected instance cost by container shape, {dau / 1e6:.0f}M users/day\n"
                 "(bar label: what limits it, GPU or the lanes' CPU work)", fontsize=9)
    ax.legend(fontsize=7)


def lanes_panel(ax, lanes: dict | None) -> None:  # noqa: ANN001
    """A Batch child's partitions one after another vs on lanes, started bundled and through tsx:
    seconds per round as bars, the process's CPU seconds as dots."""
    if not lanes:
        ax.set_visible(False)
        return
    rounds = lanes["rounds"]
    labels = [f"{r['start']}\n{r['shape']}" for r in rounds]
    xs = list(range(len(rounds)))
    colors = {("bundle", "serial"): "#47a", ("bundle", "lanes"): "#2a7",
              ("tsx", "serial"): "#aab", ("tsx", "lanes"): "#9c9"}
    ax.bar(xs, [r["seconds"] for r in rounds], color=[colors[(r["start"], r["shape"])] for r in rounds],
           label="seconds (whole process)")
    ax.set_xticks(xs, labels, fontsize=7)
    ax.set_ylabel("seconds")
    twin = ax.twinx()
    twin.plot(xs, [r["cpuSeconds"] for r in rounds], "ko", label="CPU seconds")
    twin.set_ylabel("CPU seconds")
    twin.set_ylim(0, max(r["cpuSeconds"] for r in rounds) * 1.3)
    ax.set_ylim(0, max(r["seconds"] for r in rounds) * 1.3)
    bundled, tsx = lanes["meanSeconds"], lanes["fromSources"]
    ax.set_title(f"Batch child of {len(lanes['partitions'])} partitions ({lanes['embeddedUsers']} users, CPU): "
                 f"serial/lanes {bundled['speedup']}x bundled, {tsx['speedup']}x via tsx;\n"
                 f"lanes' extra CPU {bundled['extraCpuSeconds']} s bundled, {tsx['extraCpuSeconds']} s via tsx",
                 fontsize=9)
    handles = ax.get_legend_handles_labels()
    more = twin.get_legend_handles_labels()
    ax.legend(handles[0] + more[0], handles[1] + more[1], fontsize=7, loc="upper left")


def main() -> None:
    report = json.loads(open(sys.argv[1]).read())
    fig, axes = plt.subplots(4, 3, figsize=(16, 18))
    inf = report.get("inference", {})
    inference_panel(axes[0][0], inf.get("demo"), "demo model, L=256")
    inference_panel(axes[0][1], inf.get("paper"), "paper size 6x768, L=256")

    ax = axes[0][2]
    pad = inf.get("padding")
    if pad:
        plans = pad["plans"]
        ax.bar([p["name"].replace("bucketed ", "bucketed\n").replace(", ", "\n") for p in plans],
               [p["usersPerSec"] for p in plans], color=["#999"] + ["#2a7"] * (len(plans) - 1))
        ax.tick_params(axis="x", labelsize=6)
        ax.set_ylabel("effective users/s (demo model, real lengths)")
        ax.set_title(f"length bucketing: {pad['speedup']}x default, {pad['bestSpeedup']}x best")
    else:
        ax.set_visible(False)

    ax = axes[1][0]
    steady = [(d["users"], r) for d in report.get("daily", []) for r in d["runs"] if d.get("model") == "shipped"]
    other = [(d["users"], r) for d in report.get("daily", []) for r in d["runs"] if d.get("model") != "shipped"]
    if steady:
        # shares, not seconds: the question is where the embed stage's time goes at each size
        runs = steady + other
        steps = ["read", "merge", "featurize", "infer", "write", "snapshot"]
        totals = [sum(r["secondsByStep"].get(k, 0) for k in steps) or 1 for _, r in runs]
        bottom = [0.0] * len(runs)
        for step in steps:
            vals = [100 * r["secondsByStep"].get(step, 0) / t for (_, r), t in zip(runs, totals)]
            ax.bar(range(len(runs)), vals, bottom=bottom, label=step)
            bottom = [b + v for b, v in zip(bottom, vals)]
        cpu = [100 * r["inferCpuShare"] if "inferCpuShare" in r else None for _, r in runs]
        if any(c is not None for c in cpu):
            ax.plot([i for i, c in enumerate(cpu) if c is not None], [c for c in cpu if c is not None], "k_",
                    markersize=18, markeredgewidth=2, label="infer CPU share")
        ax.axhline(70, color="black", linestyle=":", linewidth=1, label="70% goal")
        size = lambda u: f"{u // 1_000_000}M" if u >= 1_000_000 else f"{u // 1000}k"  # noqa: E731
        labels = [f"{size(u)} {r['role'][:4]}\n2x64" for u, r in steady]
        labels += [f"{size(u)} {r['role'][:4]}\n6x768" for u, r in other]
        ax.set_xticks(range(len(runs)), labels, fontsize=6)
        ax.set_ylabel("% of embed-stage worker seconds")
        ax.set_ylim(0, 128)  # room for the legend above the bars
        ax.set_yticks(range(0, 101, 20))
        ax.set_title("daily run: where the embed stage's time goes")
        ax.legend(fontsize=6, loc="upper center", ncol=4)
    else:
        ax.set_visible(False)

    ax = axes[1][1]
    if steady:
        runs = sorted(steady, key=lambda ur: ur[1]["embeddedUsers"])
        xs = [r["embeddedUsers"] for _, r in runs]
        ax.plot(xs, [r["secondsByStage"].get("embed", 0) for _, r in runs], "o-", label="embed stage")
        ax.plot(xs, [r["wallSeconds"] for _, r in runs], "s--", label="whole run")
        lo, hi = xs[0], xs[-1]
        y0 = runs[0][1]["secondsByStage"].get("embed", 0)
        ax.plot([lo, hi], [y0, y0 * hi / lo], ":", color="#888", label="linear from the smallest")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("embedded users")
        ax.set_ylabel("seconds")
        ax.set_title("daily run: time vs users (log-log)")
        ax.legend(fontsize=7)
    else:
        ax.set_visible(False)

    ax = axes[1][2]
    lookup = report.get("lookup", [])
    if lookup:
        kinds = [lk["kind"] for lk in lookup]
        ax.bar([k + "\np50" for k in kinds], [lk["p50Ms"] for lk in lookup], color="#47a")
        ax.bar([k + "\np99" for k in kinds], [lk["p99Ms"] for lk in lookup], color="#a47")
        ax.set_ylabel("latency ms")
        ax.set_title("lookup over HTTP: " + ", ".join(f"{lk['kind']} {lk['requestsPerSec']} req/s" for lk in lookup),
                     fontsize=9)
    else:
        ax.set_visible(False)
    pipelining_panels(axes[2][0], axes[2][1], report.get("pipelining"))
    shapes_panel(axes[2][2], report.get("projection"))
    lanes_panel(axes[3][0], report.get("lanes"))
    axes[3][1].set_visible(False)
    axes[3][2].set_visible(False)
    fig.suptitle(f"PinnerFormer benchmark {report['createdAt']} ({report['machine']['cpu']}, "
                 f"{report['machine']['threads']} threads)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.985))  # room for the suptitle
    fig.savefig(sys.argv[2], dpi=90)
    plt.close(fig)
    if report.get("gpu"):
        gpu_figure(report["gpu"]["bench"], Path(sys.argv[2]).with_name("bench-gpu.png"))


def gpu_figure(bench: dict, path: Path) -> None:
    """users/s and share of the measured matrix-product rate per contender and batch."""
    rows = [r for r in bench["rows"] if "error" not in r]
    batches = sorted({r["batch"] for r in rows})
    names = list(dict.fromkeys(r["contender"] for r in rows))
    bucketing = bench.get("bucketing")
    fig, axes = plt.subplots(1, 3 if bucketing else 2, figsize=(20 if bucketing else 14, 5))
    width = 0.8 / max(1, len(names))
    for ax, key, label in ((axes[0], "usersPerSec", "users/s (full length 256)"),
                           (axes[1], "measuredGemmFraction", "% of the measured GEMM rate of its precision")):
        for i, name in enumerate(names):
            values = []
            for b in batches:
                row = next((r for r in rows if r["batch"] == b and r["contender"] == name), None)
                value = (row or {}).get(key) or 0
                values.append(value * 100 if key == "measuredGemmFraction" else value)
            ax.bar([j + i * width for j in range(len(batches))], values, width, label=name)
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(batches))], [f"B={b}" for b in batches])
        ax.set_ylabel(label)
        ax.set_ylim(0, ax.get_ylim()[1] * 1.3)  # room for the legend above the bars
        ax.legend(fontsize=7, loc="upper center", ncol=3)
    gemm = ", ".join(f"{k} {v:.0f}" for k, v in bench["measuredGemmTflops"].items())
    axes[0].set_title(f"{bench['model'].split(';')[0]} on {bench['gpu']}")
    axes[1].set_title(f"measured GEMM TFLOP/s: {gemm}", fontsize=9)
    if bucketing:
        ax = axes[2]
        plans = list(dict.fromkeys(r["plan"] for r in bucketing["rows"]))
        precisions = list(dict.fromkeys(r["precision"] for r in bucketing["rows"]))
        width = 0.8 / len(precisions)
        for i, precision in enumerate(precisions):
            values = [next((r["usersPerSec"] for r in bucketing["rows"] if r["plan"] == plan and r["precision"] == precision), 0)
                      for plan in plans]
            ax.bar([j + i * width for j in range(len(plans))], values, width, label=precision)
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(plans))], [p.replace(" ", "\n", 1) for p in plans], fontsize=7)
        ax.set_ylabel("effective users/s (heavy-tailed lengths)")
        ax.set_title(f"batch plans over one day, mean length {bucketing['meanLength']:.0f}", fontsize=9)
        ax.legend(fontsize=7)
    ort_note = "" if bench["onnxruntimeCuda"]["available"] else " (onnxruntime CUDA EP not available: PyTorch only)"
    fig.suptitle(f"GPU benchmark {bench['createdAt']}{ort_note}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    main()
