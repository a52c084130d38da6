"""Synthetic training data from the project's generator (`node bin/pinnerformer.js generate`)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class SyntheticSpec:
    users: int
    days: int
    seed: int
    start: str  # YYYY-MM-DD
    items: int | None = None  # None: the generator's default (clamp(users / 2, 1000, 200000))
    root: str = "training/runs/synthetic"  # output directory, relative to the repository root unless absolute

    def path(self) -> Path:
        p = Path(self.root)
        return p if p.is_absolute() else REPO / p

    def to_json(self) -> dict:
        return asdict(self)


def matches(root: Path, spec: SyntheticSpec) -> bool:
    """Whether `root` holds the complete data set of `spec` (per its truth/generator.json)."""
    path = root / "truth" / "generator.json"
    if not path.exists():
        return False
    o = json.loads(path.read_text()).get("options", {})
    want = {"users": spec.users, "days": spec.days, "seed": spec.seed, "start": spec.start}
    if spec.items is not None:
        want["items"] = spec.items
    return all(o.get(k) == v for k, v in want.items())


def ensure_synthetic(spec: SyntheticSpec) -> Path:
    """Generates the data set unless a complete one (its truth/generator.json) is already there.
    The generator is deterministic for a seed, so a regenerated set is byte-identical."""
    root = spec.path()
    if matches(root, spec):
        return root
    if root.exists():
        shutil.rmtree(root)  # a different (or incomplete) data set under the same directory
    cmd = [
        "node", str(REPO / "bin" / "pinnerformer.js"), "generate", "--out", str(root),
        "--users", str(spec.users), "--days", str(spec.days), "--seed", str(spec.seed), "--start", spec.start,
    ]
    if spec.items is not None:
        cmd += ["--items", str(spec.items)]
    print("generating synthetic data: " + " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True, cwd=REPO)
    return root


def ensure_training_data(manifest: dict) -> Path:
    """The synthetic data set a model directory was trained on (manifest `data.synthetic`)."""
    spec = manifest.get("data", {}).get("synthetic")
    if not spec:
        raise ValueError("the manifest records no synthetic data set: pass --data")
    return ensure_synthetic(SyntheticSpec(**spec))
