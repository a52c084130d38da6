"""A MovieLens-shaped ratings world for judging models on data that looks real (not the pipeline's
generator): users with latent tastes over a few genres, heavy-tailed item popularity, bursty rating
sessions (most ratings in a first session, later ones months apart), a drifting genre focus inside a
session, and 1-5 star ratings from taste, item quality and user bias (about 65% are 4 or 5).
Writes MovieLens 1M's `ratings.dat` (`user::item::rating::unix seconds`), which
`pinnerformer import movielens` reads; reports/ablation-ratings.md is measured on it.

    python -m pinnerformer.ratings_world --out ratings.dat [--users 4000] [--items 3000] [--seed 1]
"""

from __future__ import annotations

import argparse

import numpy as np

START_S = 956_700_000  # 2000-04-26, as MovieLens 1M
END_S = 1_046_400_000  # 2003-02-28


def _user_lines(rng: np.random.Generator, user: int, world: dict, median_ratings: int) -> list[str]:
    genres, centers, item_genre = len(world["centers"]), world["centers"], world["item_genre"]
    item_vec, pop, quality = world["item_vec"], world["pop"], world["quality"]
    items = len(item_genre)
    k = int(rng.integers(1, 4))
    liked = rng.choice(genres, size=k, replace=False)
    w = rng.dirichlet(np.ones(k))
    taste = (w[:, None] * centers[liked]).sum(0) + 0.5 * rng.normal(size=centers.shape[1])
    taste /= np.linalg.norm(taste)
    bias = rng.normal(0, 0.4)
    n = int(np.clip(rng.lognormal(np.log(median_ratings), 0.9), 20, min(1500, items - 1)))
    # sessions: the first holds most ratings, later ones follow weeks or months apart
    t = START_S + int((END_S - START_S) * rng.beta(1.0, 3.0))
    sessions = 1 + rng.poisson(1.5)
    sizes = rng.multinomial(n, rng.dirichlet(np.r_[4.0, np.ones(sessions - 1)]))
    times: list[int] = []
    for s, size in enumerate(sizes):
        if s:
            t += int(rng.exponential(30 * 86400))
        times.extend((t + np.cumsum(rng.exponential(25, size=size).astype(np.int64) + 3)).tolist())
        t = times[-1] if times else t
    times = np.minimum(np.array(times, dtype=np.int64), END_S + 300 * 86400).tolist()
    base = 5.0 * item_vec @ taste + np.log(pop)
    seen = np.zeros(items, bool)
    focus = rng.choice(liked, p=w)
    picked = np.empty(n, np.int64)
    for i in range(n):
        if rng.random() < 0.15:  # the session's focus drifts, now and then outside the user's genres
            focus = rng.choice(liked, p=w) if rng.random() < 0.8 else rng.integers(genres)
        logits = np.where(seen, -np.inf, base + 1.5 * (item_genre == focus))
        p = np.exp(logits - logits.max())
        j = rng.choice(items, p=p / p.sum())
        seen[j] = True
        picked[i] = j
    score = 3.25 + bias + 1.2 * (item_vec[picked] @ taste) + 0.4 * quality[picked] + rng.normal(0, 0.8, size=n)
    ratings = np.clip(np.rint(score), 1, 5).astype(int)
    return [f"{user}::{j + 1}::{r}::{ts}" for j, r, ts in zip(picked, ratings, times)]


def generate(users: int = 4000, items: int = 3000, genres: int = 18, dim: int = 16, seed: int = 1,
             median_ratings: int = 96) -> list[str]:
    """The ratings as `ratings.dat` lines, users in order, each user's ratings in time order."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(genres, dim))
    item_genre = rng.choice(genres, size=items, p=rng.dirichlet(np.ones(genres) * 2))
    item_vec = centers[item_genre] + 0.6 * rng.normal(size=(items, dim))
    item_vec /= np.linalg.norm(item_vec, axis=1, keepdims=True)
    pop = rng.lognormal(0, 1.4, size=items)  # heavy-tailed popularity
    world = {"centers": centers, "item_genre": item_genre, "item_vec": item_vec, "pop": pop,
             "quality": rng.normal(0, 0.5, size=items) + 0.3 * np.log(pop)}
    lines: list[str] = []
    for u in range(users):
        lines += _user_lines(rng, u + 1, world, median_ratings)
    return lines


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m pinnerformer.ratings_world", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="ratings.dat to write")
    p.add_argument("--users", type=int, default=4000)
    p.add_argument("--items", type=int, default=3000)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args(argv)
    lines = generate(a.users, a.items, seed=a.seed)
    with open(a.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    stars = np.array([int(line.rsplit("::", 2)[1]) for line in lines])
    print(f"wrote {len(lines)} ratings of {a.users} users to {a.out}; share of 4-5 stars {(stars >= 4).mean():.2f}")


if __name__ == "__main__":
    main()
