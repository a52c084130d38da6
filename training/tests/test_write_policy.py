"""The write-policy replay (pinnerformer.write_policy): the simulation mirrors the pipeline's rules."""

import numpy as np

from pinnerformer.write_policy import choose_threshold, normalize, simulate


def vectors(*rows):
    return normalize(np.asarray(rows, dtype=np.float32))


def test_write_all_writes_every_embedded_user_and_serves_the_new_vector():
    a, b = vectors([1, 0], [0.8, 0.6])
    fresh = np.stack([np.stack([a]), np.stack([b])])  # 2 days, 1 user
    embedded = np.array([[True], [True]])
    served, writes, cosines = simulate(fresh, embedded, None)
    assert writes.tolist() == [1, 1]
    np.testing.assert_allclose(served[1, 0], b)
    np.testing.assert_allclose(cosines, [0.8], rtol=1e-6)


def test_policy_keeps_the_stored_vector_while_close_and_younger_than_the_refresh_age():
    a, near = vectors([1, 0], [1, 0.05])
    days = 5
    fresh = np.stack([np.stack([a if d == 0 else near]) for d in range(days)])
    embedded = np.ones((days, 1), bool)
    served, writes, _ = simulate(fresh, embedded, 0.99, refresh_age=3)
    # day 0 writes; days 1-2 keep (age 1, 2); day 3 reaches the refresh age and writes; day 4 keeps
    assert writes.tolist() == [1, 0, 0, 1, 0]
    np.testing.assert_allclose(served[2, 0], a)
    np.testing.assert_allclose(served[3, 0], near)


def test_policy_writes_when_the_new_vector_moved_away():
    a, far = vectors([1, 0], [0, 1])
    fresh = np.stack([np.stack([a]), np.stack([far])])
    served, writes, _ = simulate(fresh, np.ones((2, 1), bool), 0.99)
    assert writes.tolist() == [1, 1]
    np.testing.assert_allclose(served[1, 0], far)


def test_inactive_users_are_refreshed_at_the_refresh_age():
    a = vectors([1, 0])[0]
    days = 4
    fresh = np.stack([np.stack([a]) for _ in range(days)])
    embedded = np.array([[True], [False], [False], [False]])
    _, writes, _ = simulate(fresh, embedded, None, refresh_age=2)
    assert writes.tolist() == [1, 0, 1, 0]


def test_choose_threshold_takes_the_largest_saving_within_noise():
    rows = [
        {"threshold": 0.99, "saved_share": 0.1, "recall_delta": 0.0, "recall_delta_stderr": 0.001},
        {"threshold": 0.95, "saved_share": 0.4, "recall_delta": -0.0018, "recall_delta_stderr": 0.002},
        {"threshold": 0.9, "saved_share": 0.7, "recall_delta": -0.0033, "recall_delta_stderr": 0.0021},
    ]
    assert choose_threshold(rows) == 0.95
    assert choose_threshold(rows[2:]) is None


def test_replays_an_imported_data_root_with_ids_only(tmp_path, monkeypatch):
    """--data: an events-only root (as `pinnerformer import` writes it) is replayed with learned ids."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from conftest import START_MS, make_events
    from pinnerformer import write_policy
    from pinnerformer.config import DAY_MS

    table, _, _ = make_events(users=80, items=120, days=40)
    day = pc.divide(pc.subtract(table["ts"], START_MS), DAY_MS)
    for d in sorted(set(day.to_pylist())):
        date = np.datetime64(START_MS + d * DAY_MS, "ms").astype("datetime64[D]")
        folder = tmp_path / "events" / f"dt={date}"
        folder.mkdir(parents=True)
        pq.write_table(table.filter(pc.equal(day, d)), folder / "part-0.parquet")
    # a tiny model: this checks the path, not the figures
    small = write_policy.MODEL.__class__(layers=1, hidden=16, heads=2, embedding=8, max_length=32, item_vector=0)
    monkeypatch.setattr(write_policy, "MODEL", small)
    monkeypatch.setattr("pinnerformer.ablation.MODEL", small)
    out = write_policy.measure(steps=5, data=tmp_path)
    assert out["data"]["items"] == "ids only" and out["data"]["root"] == str(tmp_path)
    assert out["data"]["source"] == "events only"  # no imports/ record in this root
    assert out["data"]["eval_users"] > 0
    for name in write_policy.OBJECTIVES:
        o = out["objectives"][name]
        assert o["reembeddings"] > 0  # users active on the replayed days were re-embedded and compared
        assert 0 <= o["share_at_least"]["0.95"] <= 1
        assert [r["threshold"] for r in o["policy"]] == list(write_policy.THRESHOLDS)
