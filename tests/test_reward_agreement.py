"""The reward-agreement benchmark's pure parts: the achieved-goal window over episodes, and the agreement counts."""

from __future__ import annotations

import numpy as np

from .conftest import load_benchmark

bench = load_benchmark("reward_agreement")


def test_window_is_the_median_of_the_last_points_padded_with_the_first() -> None:
    rng = np.random.default_rng(0)
    points = rng.normal(size=(3, 7, 2)).astype(np.float32)  # (E, T, G)
    for w in (1, 3, 5):
        out = bench.windowed(points, w)
        loop = np.empty_like(points)
        for e in range(3):
            for t in range(7):
                last = [points[e, max(i, 0)] for i in range(t - w + 1, t + 1)]  # before the start: the first point
                loop[e, t] = np.median(np.stack(last), axis=0)
        assert np.allclose(out, loop)
    assert np.array_equal(bench.windowed(points, 1), points)


def test_agreement_counts_false_positives_and_negatives_on_their_own_bases() -> None:
    truth = np.array([0, 0, 0, 0, -1, -1, -1, -1, -1, -1], np.float32)  # 4 successes, 6 failures
    latent = np.array([0, 0, 0, -1, 0, 0, -1, -1, -1, -1], np.float32)  # 1 missed, 2 false rewards
    a = bench.agreement(latent, truth)
    assert a.pairs == 10 and a.true_success == 0.4 and a.agree == 0.7
    assert np.isclose(a.false_negative, 1 / 4) and np.isclose(a.false_positive, 2 / 6)


def test_future_pairs_are_every_later_step() -> None:
    t, u = bench.future_pairs(4)
    assert sorted(zip(t.tolist(), u.tolist())) == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]


def test_held_points_keep_the_last_point_in_sight_within_each_episode() -> None:
    points = np.arange(2 * 5, dtype=np.float32).reshape(2, 5, 1)  # (E, T, G): point = 5 e + t
    sight = np.array([[True, False, False, True, False], [False, False, True, True, False]])
    out = bench.held(points, sight)[..., 0]
    assert out.tolist() == [[0, 0, 0, 3, 3], [5, 5, 7, 8, 8]]  # an episode's first frame keeps its own point
