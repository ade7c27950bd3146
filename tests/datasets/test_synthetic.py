"""The synthetic catalog: deterministic, labelled correctly, fast to list, written like the dev sets."""

from __future__ import annotations

import csv
import sys

import cv2
import numpy as np
import pytest

from adstage.datasets import (
    CATEGORIES,
    ItemSpec,
    SyntheticCatalog,
    item_spec,
    render_product,
    write_catalog,
)
from adstage.errors import InputError

SIZE = (192, 192)


@pytest.fixture(scope="module")
def first_items():
    """The first 36 items of the default catalog (seed 0), drawn once for the module."""
    cat = SyntheticCatalog(36, size=SIZE)
    return list(cat)


def _near_white(image: np.ndarray, level: int = 215) -> np.ndarray:
    return image.min(axis=2) >= level


def test_same_seed_and_index_give_identical_bytes():
    for staged in (False, True):
        spec = ItemSpec(index=7, seed=3, category=CATEGORIES[0], staged=staged)
        a, b = render_product(spec, size=SIZE), render_product(spec, size=SIZE)
        assert a.image.tobytes() == b.image.tobytes()
        assert a.mask.tobytes() == b.mask.tobytes()
        assert a.meta == b.meta
    cat = SyntheticCatalog(10, seed=3, size=SIZE)
    assert cat[4].image.tobytes() == render_product(cat.spec(4), size=SIZE).image.tobytes()
    assert cat[-1].id == cat[9].id == "syn-3-000009"


def test_different_index_or_seed_gives_different_items():
    cat = SyntheticCatalog(4, seed=0, size=SIZE)
    images = [cat[i].image.tobytes() for i in range(4)]
    assert len(set(images)) == 4
    other = SyntheticCatalog(4, seed=1, size=SIZE)
    assert other[0].image.tobytes() != images[0]


def test_item_types_and_shapes(first_items):
    for it in first_items:
        assert it.image.shape == (SIZE[1], SIZE[0], 3) and it.image.dtype == np.uint8
        assert it.mask.shape == (SIZE[1], SIZE[0]) and it.mask.dtype == bool
        assert it.category in CATEGORIES
        assert it.seed == 0 and it.meta["index"] == int(it.id.rsplit("-", 1)[1])
    wide = render_product(item_spec(0), size=(300, 200))
    assert wide.image.shape == (200, 300, 3)


def test_categories_are_covered_early():
    cats = [r["category"] for r in SyntheticCatalog(50).rows()]
    assert len(set(cats)) >= 8
    # each block of len(CATEGORIES) items holds every category once
    assert set(cats[: len(CATEGORIES)]) == set(CATEGORIES)
    assert len(CATEGORIES) >= 8
    assert all(" > " in c for c in CATEGORIES)


def test_mask_areas_are_reasonable(first_items):
    for it in first_items:
        area = it.mask.mean()
        assert 0.03 <= area <= 0.8, (it.id, it.category, it.staged, area)


def test_unstaged_background_is_white_outside_the_product(first_items):
    unstaged = [it for it in first_items if not it.staged]
    assert len(unstaged) >= 12
    kernel = np.ones((5, 5), np.uint8)
    for it in unstaged:
        near = cv2.dilate(it.mask.astype(np.uint8), kernel).astype(bool)
        outside = ~near
        # the contact shadow is the only thing besides the product that is not near-white
        assert _near_white(it.image)[outside].mean() > 0.9, it.id
        ys = np.nonzero(it.mask.any(axis=1))[0]
        above = outside.copy()
        above[int(ys.mean()) :] = False  # the shadow lies under the product
        assert _near_white(it.image)[above].mean() > 0.99, it.id
        if not {"white-on-white", "translucent"} & set(it.meta["hard"]):
            # the mask covers the product: most pixels under it are not background
            assert (~_near_white(it.image, 240))[it.mask].mean() > 0.7, it.id


def test_staged_images_show_a_room(first_items):
    staged = [it for it in first_items if it.staged]
    assert len(staged) >= 5
    for it in staged:
        border = np.concatenate([it.image[0], it.image[-1], it.image[:, 0], it.image[:, -1]])
        assert (border.min(axis=1) >= 250).mean() < 0.5, it.id
        assert border.std() > 3.0, it.id
        roles = [p["role"] for p in it.meta["products"]]
        assert roles.count("main") == 1 and 1 <= len(roles) <= 3
        assert it.meta["room"]["floor"] and it.meta["room"]["wall"]


def test_rows_list_100k_items_without_drawing_and_match_the_items(monkeypatch):
    # "Fast to list", checked without a clock: rows() draws nothing and assigns the
    # categories and staged flags in a few vectorised chunks, not once per item.
    module = sys.modules[SyntheticCatalog.__module__]

    def no_drawing(*args, **kwargs):
        raise AssertionError("rows() drew an item")

    chunks = []
    assign = module._assign

    def counted_assign(seed, start, stop, *rest):
        chunks.append(stop - start)
        return assign(seed, start, stop, *rest)

    monkeypatch.setattr(module, "render_product", no_drawing)
    monkeypatch.setattr(module, "_assign", counted_assign)
    cat = SyntheticCatalog(100_000, seed=5)
    rows = list(cat.rows())
    assert sum(chunks) == 100_000 and len(chunks) <= 10, len(chunks)
    assert len(rows) == 100_000
    assert set(rows[0]) == {"id", "index", "category", "staged", "seed"}
    assert len({r["id"] for r in rows}) == 100_000
    staged = np.mean([r["staged"] for r in rows])
    assert abs(staged - 0.37) < 0.01
    for i in (0, 1, 777, 99_999):
        spec = cat.spec(i)
        assert (rows[i]["category"], rows[i]["staged"], rows[i]["id"]) == (
            spec.category,
            spec.staged,
            spec.id,
        )
    # Pinned, since rows() and spec() share one hash: the same items on every machine and release.
    assert [(rows[i]["category"], rows[i]["staged"]) for i in (0, 1, 777, 99_999)] == [
        ("Furniture > Tables > Coffee tables", True),
        ("Lighting > Lamps > Floor lamps", True),
        ("Furniture > Storage > Cabinets", False),
        ("Furniture > Seating > Sofas", False),
    ]
    assert list(cat.rows(10, 13)) == rows[10:13]


def test_staged_fraction_and_categories_are_respected():
    cat = SyntheticCatalog(
        40, staged_fraction=0.0, categories=["Decoration > Vases", "Decoration > Plants"]
    )
    rows = list(cat.rows())
    assert not any(r["staged"] for r in rows)
    assert {r["category"] for r in rows} == {"Decoration > Vases", "Decoration > Plants"}
    assert all(r["staged"] for r in SyntheticCatalog(20, staged_fraction=1.0).rows())


def test_hard_cases_exist():
    cat = SyntheticCatalog(
        36,
        staged_fraction=0.0,
        size=SIZE,
        categories=["Furniture > Seating > Chairs", "Decoration > Vases"],
    )
    items = list(cat)
    white = [it for it in items if "white-on-white" in it.meta["hard"]]
    glass = [it for it in items if "translucent" in it.meta["hard"]]
    holes = [it for it in items if "holes" in it.meta["hard"]]
    assert white and glass and holes
    for it in white + glass:
        # a light or see-through product on white: much of it is as light as the background
        assert _near_white(it.image, 225)[it.mask].mean() >= 0.2, it.id
        assert _near_white(it.image)[~it.mask].mean() > 0.9, it.id
    for it in glass:
        assert it.meta["main_material"].startswith("glass:")
    for it in holes:
        # background shows through the product: enclosed non-mask regions exist
        inv = np.pad((~it.mask).astype(np.uint8), 1, constant_values=1)
        n, _ = cv2.connectedComponents(inv, connectivity=4)
        assert n >= 3, it.id  # label 0 (mask) + outside + at least one hole


def test_write_catalog_layout(tmp_path):
    cat = SyntheticCatalog(50, seed=2, size=(96, 80))
    out = write_catalog(cat, tmp_path / "syn", limit=5)
    with open(out / "labels.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["path", "category", "mask_path", "staged"]
    assert len(rows) == 5
    for i, row in enumerate(rows):
        item = cat[i]
        assert row["path"] == f"images/{item.id}.png" and row["mask_path"] == f"masks/{item.id}.png"
        assert row["category"] == item.category and row["staged"] == str(int(item.staged))
        image = cv2.cvtColor(
            cv2.imread(str(out / row["path"]), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB
        )
        mask = cv2.imread(str(out / row["mask_path"]), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(image, item.image)
        assert mask.dtype == np.uint8 and mask.ndim == 2 and set(np.unique(mask)) <= {0, 255}
        assert np.array_equal(mask == 255, item.mask)
    assert sorted(p.name for p in (out / "images").iterdir()) == sorted(
        f"{cat[i].id}.png" for i in range(5)
    )
    assert (out / "metadata.csv").read_text().startswith("path,category,mask_path,staged,")
    assert not list(out.rglob("*.tmp"))


def test_bad_arguments_are_named():
    with pytest.raises(InputError, match="Furniture > Seating > Chairs"):
        SyntheticCatalog(3, categories=["Furniture > Seating > Chair"])
    with pytest.raises(InputError, match="size"):
        SyntheticCatalog(3, size=(10, 10))
    with pytest.raises(InputError, match="seed"):
        SyntheticCatalog(3, seed=-1)
    with pytest.raises(InputError, match="staged_fraction"):
        SyntheticCatalog(3, staged_fraction=1.5)
    with pytest.raises(InputError, match="spec"):
        render_product("chair")  # type: ignore[arg-type]
    with pytest.raises(IndexError):
        SyntheticCatalog(3)[3]
    assert [it.id for it in SyntheticCatalog(4, size=(64, 64))[1:3]] == [
        "syn-0-000001",
        "syn-0-000002",
    ]
