"""Validation curves of training/gpu/trial.py runs, from their log lines, as one PNG.

    python training/gpu/curves.py LOG --out PNG --panel "title=tag,tag" [--panel ...] [--label tag=text ...]

Each panel plots validation Recall@10 against steps for its tags (lines `[tag] ... hist [[step, recall], ...]`).
"""
import argparse
import ast
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

LINE = re.compile(r"^\[(?P<tag>[^\]]+)\] \S+ steps \d+ .*hist (?P<hist>\[\[.*\]\])\s*$")


def histories(path: str) -> dict[str, list[tuple[int, float]]]:
    out = {}
    for line in open(path):
        m = LINE.match(line.strip())
        if m:
            out[m["tag"]] = [tuple(p) for p in ast.literal_eval(m["hist"])]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("log")
    p.add_argument("--out", required=True)
    p.add_argument("--panel", action="append", required=True, help="title=tag,tag")
    p.add_argument("--label", action="append", default=[], help="tag=legend text")
    a = p.parse_args()
    hist, labels = histories(a.log), dict(x.split("=", 1) for x in a.label)
    fig, axes = plt.subplots(1, len(a.panel), figsize=(6 * len(a.panel), 4.2), squeeze=False)
    for ax, panel in zip(axes[0], a.panel):
        title, tags = panel.split("=", 1)
        for tag in tags.split(","):
            if tag not in hist:
                raise SystemExit(f"{a.log} has no curve for [{tag}]; it has {sorted(hist)}")
            steps, recall = zip(*hist[tag])
            ax.plot(steps, recall, marker="o", label=labels.get(tag, tag))
        ax.set_title(title)
        ax.set_xlabel("training step (64 sequences each)")
        ax.set_ylabel("validation Recall@10")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(a.out, dpi=110)


if __name__ == "__main__":
    main()
