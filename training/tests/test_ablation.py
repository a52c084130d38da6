"""The ablation report: every configuration and baseline per protocol, the checks, the chart."""

import json

from pinnerformer.ablation import BASE, BASELINE_NAMES, MODEL, ORDER, RUNS, checks, run_configs, write_chart, write_markdown
from pinnerformer.train import LAST_ITEM_SKIP, NEXT_EVENT_SHARE


def fake_report(seeds=3):
    rows = {}
    for i, name in enumerate(ORDER + BASELINE_NAMES):
        base = 0.3 - 0.01 * i if not name.startswith("baseline") else 0.05
        rows[name] = {"recall_at_10": base, "recall_at_10_stderr": 0.01, "recall_at_10_seed_std": 0.002,
                      "hr_at_10": base * 2, "hr_at_10_stderr": 0.02, "ndcg_at_10": base / 2, "ndcg_at_10_stderr": 0.005,
                      "p90_coverage_at_10": 0.05, "users": 100, "index_size": 2000, "seeds": seeds}
    rows["neg_mixed_logq"]["same_run_as"] = "dense_all_action"
    rows["dense_all_action"].update(new_items_recall_at_10=0.25, new_items_recall_at_10_stderr=0.012, new_items_users=60)
    data = {"events": 5, "users": 10, "items": 7, "item_table": 0, "vocabulary": 7, "train_users": 8, "scored_users": 2}
    section = {"rows": rows, "data": data,
               "frequency": {n: {"once": 0.1, "daily": 0.12, "realtime": 0.2} for n in ("sasrec", "dense_all_action")}}
    settings = {"data": "/some/root", "no_items": True, "model": {"layers": 2, "hidden": 64, "embedding": 64, "max_length": 128},
                "train": {"steps": 1, "batch_size": 2, "horizon_days": 28, "random_negatives": 3, "device": "cpu"}}
    return {"protocols": {"time": section, "leave_last_out": {**section, "frequency": {}}}, "settings": settings, "seeds": seeds}


def test_report_files(tmp_path):
    r = fake_report()
    write_markdown(tmp_path / "a.md", r)
    write_chart(tmp_path / "a.png", r)
    md = (tmp_path / "a.md").read_text()
    for name in ORDER + BASELINE_NAMES:
        assert md.count(f"`{name}`") >= 2  # one row per protocol
    assert "## Protocol `time`" in md and "## Protocol `leave_last_out`" in md and "ids only" in md
    assert "| `sasrec` | 0.1000 | 0.1200 | 0.2000 | 40.0% |" in md
    assert "0.3000 ± 0.0020 (0.0100)" in md  # mean ± seed spread (standard error over users)
    assert "| 0.2500 (0.0120; 60 users) |" in md  # new items only
    assert "| 0.0500 | - |" in md  # a row measured before the new-items column
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"
    json.dumps(r)


def test_checks_need_two_standard_errors_and_every_baseline_beaten():
    rows = fake_report()["protocols"]["time"]["rows"]
    result = dict(checks(rows, {}))
    # dense (0.27) vs next_action (0.30): not better
    assert result["dense all action beats next_action by more than two standard errors"] is False
    rows["dense_all_action"]["recall_at_10"] = 0.5
    result = dict(checks(rows, {}))
    assert result["dense all action beats sasrec by more than two standard errors"] is True
    assert result["every trained objective beats every baseline on Recall@10"] is True
    rows["baseline_cooccurrence"]["recall_at_10"] = 0.4
    assert dict(checks(rows, {}))["every trained objective beats every baseline on Recall@10"] is False
    del rows["all_action"]
    assert dict(checks(rows, {}))["all action beats SASRec"] is None


def test_checks_judge_the_train_cli_default_beside_the_papers_loss():
    rows = fake_report()["protocols"]["time"]["rows"]
    name = "dense all action + next event (the train CLI's default) beats sasrec by more than two standard errors"
    events = rows.pop("dense_all_action_events")
    assert dict(checks(rows, {}))[name] is None  # not run: not judged
    rows["dense_all_action_events"] = {**events, "recall_at_10": 0.5}
    result = dict(checks(rows, {}))
    assert result[name] is True
    assert result["the train CLI's default beats every baseline on Recall@10"] is True
    rows["baseline_cooccurrence"]["recall_at_10"] = 0.6
    assert dict(checks(rows, {}))["the train CLI's default beats every baseline on Recall@10"] is False


def test_the_cli_default_row_trains_the_cli_defaults_model_and_loss():
    model, train = run_configs("dense_all_action_events", MODEL, BASE)
    assert model.last_item_skip is LAST_ITEM_SKIP and train.next_event_share == NEXT_EVENT_SHARE
    model, train = run_configs("sasrec", MODEL, BASE)
    assert model == MODEL and train.objective == "sasrec"
    for name in RUNS:  # every row's overrides name real fields
        run_configs(name, MODEL, BASE)
