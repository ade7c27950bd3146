"""Retrieval metrics (Ku et al. 2023, §5.3): hand-computed cases and a brute-force cross-check."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from adstage.datasets.synthetic import SyntheticCatalog
from adstage.errors import InputError
from adstage.evaluate.retrieval import (
    DEFAULT_MAX_DISTANCE,
    average_hash,
    dhash,
    evaluate_retrieval,
    hamming,
    near_duplicates,
    precision_at_k,
    recall_at_k,
    top_k_neighbours,
)

EXACT = {"abs": 1e-12, "rel": 0}


def unit(degrees: list[float]) -> np.ndarray:
    t = np.radians(degrees)
    return np.stack([np.cos(t), np.sin(t)], axis=1)


# Six unit vectors; cosine ranks by angular distance.
#   item:   0    1    2    3    4    5
#   angle:  0°  10°  30°  65°  80°  90°
#   label:  A    A    B    A    B    B
ANGLES = [0.0, 10.0, 30.0, 65.0, 80.0, 90.0]
LABELS = ["A", "A", "B", "A", "B", "B"]
# Ranked galleries (angular distance, label) and hits in the top 1 / top 3:
#   q0 A: 1(10 A) 2(30 B) 3(65 A) 4 5  -> P@1 1, P@3 2/3, R@3 1
#   q1 A: 0(10 A) 2(20 B) 3(55 A) 4 5  -> P@1 1, P@3 2/3, R@3 1
#   q2 B: 1(20 A) 0(30 A) 3(35 A) 4 5  -> P@1 0, P@3 0,   R@3 0
#   q3 A: 4(15 B) 5(25 B) 2(35 B) 1 0  -> P@1 0, P@3 0,   R@3 0
#   q4 B: 5(10 B) 3(15 A) 2(50 B) 1 0  -> P@1 1, P@3 2/3, R@3 1
#   q5 B: 4(10 B) 3(25 A) 2(60 B) 1 0  -> P@1 1, P@3 2/3, R@3 1
# Means: P@1 = R@1 = 4/6; P@3 = (4 · 2/3) / 6 = 4/9; R@3 = 4/6.
# k = 5 is the whole gallery: each query has 2 others of its label -> P@5 = 2/5, R@5 = 1.


def test_hand_computed_case() -> None:
    report = evaluate_retrieval(unit(ANGLES), LABELS, ks=(1, 3, 5), min_per_category=1)
    assert report.n_queries == 6 and report.n_categories == 2
    assert report.precision["1"] == pytest.approx(2 / 3, **EXACT)
    assert report.recall["1"] == pytest.approx(2 / 3, **EXACT)
    assert report.precision["3"] == pytest.approx(4 / 9, **EXACT)
    assert report.recall["3"] == pytest.approx(2 / 3, **EXACT)
    assert report.precision["5"] == pytest.approx(2 / 5, **EXACT)
    assert report.recall["5"] == 1.0
    # A = queries 0, 1, 3: P@1 2/3, P@3 (2/3 + 2/3 + 0)/3 = 4/9, R@3 2/3; B = 2, 4, 5 the same.
    for cat in ("A", "B"):
        c = report.per_category[cat]
        assert c["n"] == 3
        assert c["precision"]["1"] == pytest.approx(2 / 3, **EXACT)
        assert c["precision"]["3"] == pytest.approx(4 / 9, **EXACT)
        assert c["recall"]["3"] == pytest.approx(2 / 3, **EXACT)
    d = report.as_dict(embedder="toy")
    assert list(d) == [
        "embedder",
        "n_queries",
        "n_categories",
        "precision",
        "recall",
        "per_category",
    ]
    assert d["embedder"] == "toy" and set(d["precision"]) == {"1", "3", "5"}
    index, valid = top_k_neighbours(unit(ANGLES), 3)
    assert index.tolist() == [[1, 2, 3], [0, 2, 3], [1, 0, 3], [4, 5, 2], [5, 3, 2], [4, 3, 2]]
    assert valid.all()


def test_rank_metric_functions_on_a_relevance_matrix() -> None:
    rel = np.array([[1, 0, 1], [0, 0, 0], [0, 1, 1]], bool)
    # P@1 = (1+0+0)/3; P@3 = (2+0+2)/(3·3); R@2 = (1+0+1)/3 (at least one hit in the top 2)
    assert precision_at_k(rel, 1) == pytest.approx(1 / 3, **EXACT)
    assert precision_at_k(rel, 3) == pytest.approx(4 / 9, **EXACT)
    assert recall_at_k(rel, 1) == pytest.approx(1 / 3, **EXACT)
    assert recall_at_k(rel, 2) == pytest.approx(2 / 3, **EXACT)


def test_ties_break_by_ascending_index() -> None:
    # Items 1, 2, 3 are the same vector: equal similarity to item 0, ranked by index, also when
    # the tie straddles the top-k cut.
    v = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0]])
    assert top_k_neighbours(v, 2)[0][0].tolist() == [1, 2]
    assert top_k_neighbours(v, 3)[0][0].tolist() == [1, 2, 3]
    assert top_k_neighbours(v, 2)[0][3].tolist() == [1, 2]


def test_near_duplicate_exclusion() -> None:
    # Item 6 (31°, B) is a near copy of item 2 (30°, B): each is the other's top-1 and a hit.
    angles, labels = [*ANGLES, 31.0], [*LABELS, "B"]
    v = unit(angles)
    hashes = [0b0000, 0b1111_0000, 0xABCD, 0xFF00_0000, 0x1234_0000, 0x00F0_F000, 0xABCD]
    exclude = near_duplicates(hashes, max_distance=0)
    expected = np.zeros((7, 7), bool)
    expected[2, 6] = expected[6, 2] = True
    assert (exclude == expected).all()

    assert top_k_neighbours(v, 1)[0][2, 0] == 6
    assert top_k_neighbours(v, 1, exclude=exclude)[0][2, 0] == 1
    before = evaluate_retrieval(v, labels, ks=(1,), min_per_category=1)
    after = evaluate_retrieval(v, labels, ks=(1,), min_per_category=1, exclude=exclude)
    # Queries 2 and 6 lose their hit (both now find item 1, label A); the rest are unchanged.
    assert before.precision["1"] - after.precision["1"] == pytest.approx(2 / 7, **EXACT)
    assert after.precision["1"] == pytest.approx(4 / 7, **EXACT)


def test_near_duplicates_by_hamming_and_digest() -> None:
    hashes = [0b1111_0000, 0b1111_0001, 0b0000_1111, 0b1111_0111]
    mask = near_duplicates(hashes, max_distance=1)
    assert mask[0, 1] and mask[1, 0] and not mask[0, 3] and not mask[0, 2]
    assert not mask.diagonal().any()
    assert near_duplicates(hashes, max_distance=3)[0, 3]
    digests = ["a", "b", "c", "c"]
    both = near_duplicates(hashes, max_distance=1, digests=digests)
    assert both[2, 3] and both[0, 1] and both.sum() == 4
    assert near_duplicates(None, digests=digests).sum() == 2
    # chunked Hamming computation equals one block
    rng = np.random.default_rng(0)
    many = [int(x) for x in rng.integers(0, 2**63, 50)]
    many += many[:5]
    assert (
        near_duplicates(many, max_distance=20, chunk_size=7)
        == near_duplicates(many, max_distance=20)
    ).all()


def test_min_per_category_drops_small_categories() -> None:
    # Two C items sit right beside the A items; with min_per_category=3 they are neither queries
    # nor gallery, so the result equals evaluating the A/B items alone.
    v = np.concatenate([unit(ANGLES), unit([1.0, 9.0])])
    labels = [*LABELS, "C", "C"]
    report = evaluate_retrieval(v, labels, ks=(1, 3), min_per_category=3)
    alone = evaluate_retrieval(unit(ANGLES), LABELS, ks=(1, 3), min_per_category=1)
    assert report.n_queries == 6 and report.n_categories == 2
    assert "C" not in report.per_category
    assert report.as_dict() == alone.as_dict()
    kept_all = evaluate_retrieval(v, labels, ks=(1, 3), min_per_category=2)
    assert kept_all.n_queries == 8 and kept_all.n_categories == 3
    with pytest.raises(InputError, match="min_per_category"):
        evaluate_retrieval(v, labels, min_per_category=4)


def clustered(n: int = 300, clusters: int = 6, dim: int = 16, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    codes = rng.integers(0, clusters, n)
    v = centres[codes] + 1.2 * rng.normal(size=(n, dim))
    labels = [f"cat{c}" for c in codes]
    exclude = rng.random((n, n)) < 0.02
    exclude = exclude | exclude.T
    return v, labels, exclude


def naive(v, labels, ks, exclude, min_per_category):
    """Brute force: per query, Python cosine over every other item, sorted by (-sim, index)."""
    counts = {c: labels.count(c) for c in set(labels)}
    keep = [i for i in range(len(labels)) if counts[labels[i]] >= min_per_category]
    rows = [list(map(float, v[i])) for i in range(len(labels))]

    def cos(a, b):
        dot = sum(x * y for x, y in zip(a, b, strict=True))
        return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))

    ranked, p, r = [], {k: 0.0 for k in ks}, {k: 0.0 for k in ks}
    for q in keep:
        gallery = [j for j in keep if j != q and not exclude[q, j]]
        order = sorted(gallery, key=lambda j: (-cos(rows[q], rows[j]), j))
        ranked.append(order[: max(ks)])
        for k in ks:
            hits = sum(labels[j] == labels[q] for j in order[:k])
            p[k] += hits / k
            r[k] += hits > 0
    n = len(keep)
    return ranked, {k: p[k] / n for k in ks}, {k: r[k] / n for k in ks}


def test_matches_brute_force_on_clustered_data() -> None:
    v, labels, exclude = clustered()
    ks = (1, 3, 5, 10)
    report = evaluate_retrieval(v, labels, ks=ks, exclude=exclude, min_per_category=1)
    ranked, p, r = naive(v, labels, ks, exclude, 1)
    index, _ = top_k_neighbours(v, 10, exclude=exclude)
    assert index.tolist() == ranked
    for k in ks:
        assert report.precision[str(k)] == pytest.approx(p[k], **EXACT)
        assert report.recall[str(k)] == pytest.approx(r[k], **EXACT)
    assert 0.3 < report.precision["1"] < 0.95  # clustered, neither trivial nor chance


def test_matches_brute_force_with_dropped_categories() -> None:
    v, labels, exclude = clustered(n=120, clusters=8, seed=1)
    m = sorted(labels.count(c) for c in set(labels))[3]  # drop the three smallest categories
    report = evaluate_retrieval(v, labels, ks=(1, 3), exclude=exclude, min_per_category=m)
    _, p, r = naive(v, labels, (1, 3), exclude, m)
    assert report.n_categories == len({c for c in labels if labels.count(c) >= m})
    for k in (1, 3):
        assert report.precision[str(k)] == pytest.approx(p[k], **EXACT)
        assert report.recall[str(k)] == pytest.approx(r[k], **EXACT)


def test_matches_torchmetrics_if_installed() -> None:
    torch = pytest.importorskip("torch")
    tm = pytest.importorskip("torchmetrics.functional.retrieval")
    v, labels, _ = clustered(n=120, seed=2)
    report = evaluate_retrieval(v, labels, ks=(1, 3, 5), min_per_category=1)
    u = v / np.linalg.norm(v, axis=1, keepdims=True)
    sims = u @ u.T
    for k in (1, 3, 5):
        precision, hits = [], []
        for q in range(len(labels)):
            g = [j for j in range(len(labels)) if j != q]
            preds = torch.tensor(sims[q, g], dtype=torch.float64)
            target = torch.tensor([labels[j] == labels[q] for j in g])
            precision.append(float(tm.retrieval_precision(preds, target, top_k=k)))
            hits.append(float(tm.retrieval_hit_rate(preds, target, top_k=k)))
        # torchmetrics averages in float32: agreement to its precision, not ours.
        assert report.precision[str(k)] == pytest.approx(float(np.mean(precision)), abs=1e-6)
        assert report.recall[str(k)] == pytest.approx(float(np.mean(hits)), abs=1e-6)


def test_chunked_equals_unchunked() -> None:
    v, labels, exclude = clustered(n=200, seed=3)
    whole = evaluate_retrieval(v, labels, exclude=exclude, min_per_category=1, chunk_size=10_000)
    for chunk in (1, 7, 64):
        part = evaluate_retrieval(v, labels, exclude=exclude, min_per_category=1, chunk_size=chunk)
        assert part.as_dict() == whole.as_dict()


def test_gallery_shorter_than_k_counts_as_misses() -> None:
    # Two items, k = 3: one valid neighbour, two empty ranks (not relevant, still in P@3's /k).
    report = evaluate_retrieval(unit([0.0, 5.0]), ["A", "A"], ks=(1, 3), min_per_category=1)
    assert report.precision == {"1": 1.0, "3": pytest.approx(1 / 3, **EXACT)}
    assert report.recall == {"1": 1.0, "3": 1.0}
    index, valid = top_k_neighbours(unit([0.0, 5.0]), 3)
    assert index[0].tolist() == [1, -1, -1] and valid[0].tolist() == [True, False, False]


def test_perceptual_hash_robust_to_jpeg_and_resize() -> None:
    catalog = SyntheticCatalog(4)
    images = [catalog[i].image for i in range(4)]
    for fn in (average_hash, dhash):
        for image in images:
            ok, buf = cv2.imencode(".jpg", image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 60])
            assert ok
            jpeg = cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1]
            small = cv2.resize(image, (203, 211), interpolation=cv2.INTER_AREA)
            h = fn(image)
            assert hamming(h, fn(jpeg)) <= DEFAULT_MAX_DISTANCE
            assert hamming(h, fn(small)) <= DEFAULT_MAX_DISTANCE
        hashes = [fn(im) for im in images]
        assert all(0 <= h < 2**64 for h in hashes)
        for i in range(4):
            for j in range(i + 1, 4):
                assert hamming(hashes[i], hashes[j]) > DEFAULT_MAX_DISTANCE
        assert not near_duplicates(hashes).any()
    assert average_hash(images[0], size=16) < 2**256


def test_bad_input_names_the_argument() -> None:
    v = unit(ANGLES)
    with pytest.raises(InputError, match="labels"):
        evaluate_retrieval(v, LABELS[:-1], min_per_category=1)
    with pytest.raises(InputError, match="ks"):
        evaluate_retrieval(v, LABELS, ks=(0, 1), min_per_category=1)
    bad = v.copy()
    bad[2, 1] = np.nan
    with pytest.raises(InputError, match=r"vectors.*row 2"):
        evaluate_retrieval(bad, LABELS, min_per_category=1)
    with pytest.raises(InputError, match="vectors row 0 is all zeros"):
        evaluate_retrieval(np.zeros((6, 2)), LABELS, min_per_category=1)
    with pytest.raises(InputError, match="vectors"):
        evaluate_retrieval(np.ones(6), LABELS, min_per_category=1)
    with pytest.raises(InputError, match="exclude"):
        evaluate_retrieval(v, LABELS, min_per_category=1, exclude=np.zeros((5, 5), bool))
    with pytest.raises(InputError, match="metric"):
        evaluate_retrieval(v, LABELS, min_per_category=1, metric="l2")
    with pytest.raises(InputError, match="k must"):
        precision_at_k(np.ones((2, 3), bool), 0)
    with pytest.raises(InputError, match="k=4"):
        recall_at_k(np.ones((2, 3), bool), 4)
    with pytest.raises(InputError, match="k must"):
        top_k_neighbours(v, 0)
    with pytest.raises(InputError, match="digests"):
        near_duplicates([1, 2], digests=["a"])
    with pytest.raises(InputError, match="max_distance"):
        near_duplicates([1, 2], max_distance=-1)
    with pytest.raises(InputError, match="image"):
        average_hash(np.zeros((4, 4, 2), np.uint8))
