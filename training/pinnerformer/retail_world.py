"""A RetailRocket-shaped event world for judging models on retail logs (not the pipeline's
generator): a large catalogue in a two-level category tree with heavy-tailed item popularity;
most visitors come once and view a few items, a minority return over weeks; a session browses one
category (now and then a sibling), views some items again, carts an item it viewed, and sometimes
buys it; a visitor's favourite categories persist across sessions, and a purchase makes the
category's complement (a fixed other category) likely next. About 96 % of events are views.
Writes RetailRocket's `events.csv` (`timestamp,visitorid,event,itemid,transactionid`, epoch ms),
which `pinnerformer import events-csv` reads.

    python -m pinnerformer.retail_world --out events.csv [--visitors 150000] [--items 30000] [--seed 1]
"""

from __future__ import annotations

import argparse

import numpy as np

from .config import DAY_MS

START_MS = 1_430_622_000_000  # 2015-05-03, as RetailRocket
DAYS = 138


class _Catalogue:
    """Items in `parents` x `children` categories; draws an item of a category by popularity."""

    def __init__(self, rng: np.random.Generator, items: int, parents: int, children: int) -> None:
        self.categories = parents * children
        self.children = children
        share = rng.dirichlet(np.ones(self.categories) * 1.5)
        self.item_category = rng.choice(self.categories, size=items, p=share)
        pop = rng.lognormal(0, 1.5, size=items)
        order = np.argsort(self.item_category, kind="stable")
        self.items_of = np.split(order, np.cumsum(np.bincount(self.item_category, minlength=self.categories))[:-1])
        self.cum_pop = [np.cumsum(pop[ids]) for ids in self.items_of]
        self.complement = rng.permutation(self.categories)  # what people buy after a category
        # a category with no item borrows its neighbour's
        for c in range(self.categories):
            if len(self.items_of[c]) == 0:
                donor = next(d for d in range(1, self.categories) if len(self.items_of[(c + d) % self.categories]))
                self.items_of[c] = self.items_of[(c + donor) % self.categories]
                self.cum_pop[c] = self.cum_pop[(c + donor) % self.categories]

    def draw(self, rng: np.random.Generator, category: int, n: int) -> np.ndarray:
        cum = self.cum_pop[category]
        return self.items_of[category][np.searchsorted(cum, rng.random(n) * cum[-1], side="right").clip(0, len(cum) - 1)]

    def sibling(self, rng: np.random.Generator, category: int) -> int:
        return int(category // self.children * self.children + rng.integers(self.children))


def _visitor_events(rng: np.random.Generator, cat: _Catalogue, engaged: bool) -> list[tuple[int, str, int]]:
    """One visitor's (ms, event, item) in time order."""
    k = int(rng.integers(1, 4))
    favourites = rng.choice(cat.categories, size=k, replace=False)
    weights = rng.dirichlet(np.ones(k))
    sessions = 1 + (rng.geometric(0.2) if engaged else int(rng.random() < 0.1))
    t = START_MS + int(rng.random() * DAYS * DAY_MS * (0.6 if engaged else 1.0))
    out: list[tuple[int, str, int]] = []
    bought_category: int | None = None
    viewed_before: list[int] = []
    for _ in range(sessions):
        if bought_category is not None and rng.random() < 0.4:
            category = int(cat.complement[bought_category])
        elif rng.random() < 0.75:
            category = int(rng.choice(favourites, p=weights))
            if rng.random() < 0.25:
                category = cat.sibling(rng, category)
        else:
            category = int(rng.integers(cat.categories))
        bought_category = None
        views = int(rng.geometric(1 / 6 if engaged else 1 / 1.6))
        fresh = cat.draw(rng, category, views)
        session: list[int] = []
        if viewed_before and rng.random() < 0.3:  # comes back to an item considered earlier
            session.append(int(rng.choice(viewed_before[-10:])))
        for item in fresh:
            session.append(int(item))
            if rng.random() < 0.25:  # views it again, or goes back to one seen in this session
                session.append(int(item) if rng.random() < 0.5 else int(rng.choice(session)))
        cart_p = 0.3 if engaged else 0.03
        gaps = rng.exponential(45_000, size=len(session) + 4).astype(np.int64) + 2_000
        g = 0
        for item in session:
            out.append((t, "view", item))
            t += int(gaps[g])
            g += 1
        if rng.random() < cart_p:
            carted = session[-1] if rng.random() < 0.6 else int(rng.choice(session))
            out.append((t, "addtocart", carted))
            t += int(gaps[g])
            if rng.random() < 0.35:
                t += int(rng.exponential(300_000))
                out.append((t, "transaction", carted))
                bought_category = int(cat.item_category[carted])
        viewed_before += session
        t += int(rng.exponential(9 * DAY_MS))
        if t > START_MS + DAYS * DAY_MS:
            break
    return out


def generate(visitors: int = 150_000, items: int = 30_000, parents: int = 30, children: int = 10,
             engaged_share: float = 0.12, seed: int = 1) -> list[str]:
    """The events as `events.csv` lines (no header), in time order."""
    rng = np.random.default_rng(seed)
    cat = _Catalogue(rng, items, parents, children)
    rows: list[tuple[int, int, str, int]] = []
    for v in range(visitors):
        rows += [(ms, v, ev, item) for ms, ev, item in _visitor_events(rng, cat, rng.random() < engaged_share)]
    rows.sort(key=lambda r: r[0])
    lines, transaction = [], 0
    for ms, v, ev, item in rows:
        tid = ""
        if ev == "transaction":
            transaction += 1
            tid = str(transaction)
        lines.append(f"{ms},{v},{ev},{item},{tid}")
    return lines


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m pinnerformer.retail_world", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="events.csv to write")
    p.add_argument("--visitors", type=int, default=150_000)
    p.add_argument("--items", type=int, default=30_000)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args(argv)
    lines = generate(a.visitors, a.items, seed=a.seed)
    with open(a.out, "w") as f:
        f.write("timestamp,visitorid,event,itemid,transactionid\n" + "\n".join(lines) + "\n")
    kinds = np.array([line.split(",")[2] for line in lines])
    shares = {k: round(float((kinds == k).mean()), 3) for k in ("view", "addtocart", "transaction")}
    print(f"wrote {len(lines)} events of {a.visitors} visitors to {a.out}; shares {shares}")


if __name__ == "__main__":
    main()
