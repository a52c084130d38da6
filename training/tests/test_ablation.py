"""The ablation report writers: every configuration name, the orderings, the chart."""

import json

from pinnerformer.ablation import ORDER, write_chart, write_markdown


def fake_report():
    r = {}
    for i, name in enumerate(ORDER):
        r[name] = {"recall_at_10": 0.1 + 0.01 * i, "recall_at_10_stderr": 0.01, "p90_coverage_at_10": 0.05, "users": 100, "index_size": 2000}
    r["neg_mixed_logq"]["same_run_as"] = "dense_all_action"
    r["frequency"] = {n: {"once": 0.1, "daily": 0.12, "realtime": 0.2} for n in ("sasrec", "dense_all_action")}
    return r


def test_report_files(tmp_path):
    r = fake_report()
    meta = {
        "data": {"users": 10, "days": 60, "seed": 1, "events": 5, "items": 7, "train_users": 8, "eval_users": 2},
        "model": {"layers": 2, "hidden": 64, "embedding": 64, "max_length": 128},
        "train": {"steps": 1, "batch_size": 2, "horizon_days": 28, "random_negatives": 3, "max_in_batch": 4},
    }
    write_markdown(tmp_path / "a.md", r, meta)
    write_chart(tmp_path / "a.png", r)
    md = (tmp_path / "a.md").read_text()
    for name in ORDER:
        assert f"`{name}`" in md
    assert "NOT reproduced" in md and "| `sasrec` | 0.1000 | 0.1200 | 0.2000 | 40.0% |" in md
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"
    json.dumps(r)
