"""The RetailRocket-shaped world: its format and the shape that makes it look like retail logs."""

from collections import defaultdict

from pinnerformer.retail_world import generate, main


def test_events_have_retail_shares_and_carts_follow_views():
    lines = generate(visitors=3000, items=2000, seed=3)
    rows = [line.split(",") for line in lines]
    assert all(len(r) == 5 for r in rows)
    ts = [int(r[0]) for r in rows]
    assert ts == sorted(ts) and 1.4e12 < ts[0] < 1.5e12  # epoch ms, in time order
    kinds = [r[2] for r in rows]
    share = {k: kinds.count(k) / len(kinds) for k in ("view", "addtocart", "transaction")}
    assert share["view"] > 0.9 and 0.01 < share["addtocart"] < 0.06 and 0 < share["transaction"] < share["addtocart"]
    seen: dict[str, set[str]] = defaultdict(set)
    carted: dict[str, set[str]] = defaultdict(set)
    tids = []
    for _, visitor, event, item, tid in rows:
        if event == "view":
            seen[visitor].add(item)
        elif event == "addtocart":
            assert item in seen[visitor]  # a cart holds an item the visitor viewed
            carted[visitor].add(item)
        else:
            assert item in carted[visitor] and tid  # a purchase was carted first and has a transaction id
            tids.append(int(tid))
        if event != "transaction":
            assert tid == ""
    assert tids == list(range(1, len(tids) + 1))
    per_visitor = defaultdict(int)
    for r in rows:
        per_visitor[r[1]] += 1
    counts = sorted(per_visitor.values())
    assert counts[len(counts) // 2] <= 3 < counts[-1] // 10  # most visitors come briefly, a few a lot


def test_cli_writes_a_headed_csv(tmp_path, capsys):
    out = tmp_path / "events.csv"
    main(["--out", str(out), "--visitors", "200", "--items", "300"])
    text = out.read_text().splitlines()
    assert text[0] == "timestamp,visitorid,event,itemid,transactionid" and len(text) > 200
    assert "view" in capsys.readouterr().out
