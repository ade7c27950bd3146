"""A product's kind and its size and support in the scene (adstage.stage.scale): catalog product
types read as kinds, the metrology on a pinhole camera, each refusal, and staging with a kind."""

from __future__ import annotations

import math

import numpy as np
import pytest

from adstage.errors import InputError
from adstage.stage.scale import (
    CHILD_SCALE,
    KINDS,
    SUPPORTS,
    Camera,
    check,
    check_setting,
    implied_height,
    kind_of,
    size_range,
    typical,
)
from adstage.stage.screen import Screen, screen
from scenes import ingest_synthetic

PART = ("part or accessory", "part")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Pouffe", ("pouf", "floor")),
        ("Foot rest", ("pouf", "floor")),
        ("chest of 3 drawers", ("chest of drawers", "floor")),
        ("Table and 4 chairs", ("table", "floor")),  # the head decides
        ("glass door cabinet", ("cabinet", "floor")),
        ("bookcase with glass doors", ("shelving", "floor")),
        ("Bookshelf", ("shelving", "floor")),
        ("ottoman bed", ("bed", "floor")),
        ("Bed frame with storage", ("bed", "floor")),
        ("coffee table outdoor", ("coffee table", "floor")),
        ("TV bench with doors and drawers", ("TV bench", "floor")),
        ("TV storage combination/glass doors", ("shelving", "floor")),  # "/" as "with"
        ("TV storage combinationglass doors", ("shelving", "floor")),  # the "/" dropped
        ("Storage combinations", ("shelving", "floor")),
        ("Sofa cover", ("sofa", "floor")),  # its photo shows the covered sofa
        ("Cover for recliner", ("armchair", "floor")),  # so does a recliner's
        ("Cover for chair with armrests", ("chair", "floor")),  # a chair's, not the armrests'
        ("Cover for chair/armrests", ("chair", "floor")),
        ("Nightstand", ("bedside table", "floor")),
        ("Bedside table", ("bedside table", "floor")),
        ("Side table", ("side table", "floor")),
        # parts and accessories: the head ends in a part noun
        ("table top", PART),
        ("Table legs", PART),
        ("Cabinet door", PART),
        ("Cabinet handle", PART),
        ("Bench top", PART),
        ("Bed slats", PART),
        ("drawer front", PART),
        ("Knob", PART),
        ("2 legs and 2 castors", PART),
        ("glass door", PART),
        ("chair cushion outdoor", PART),
        ("Bed canopy", PART),
        ("Door mat", PART),
        ("Padded seat cover for junior chair", ("part", "part")),
        ("Cover for seat cushion", PART),  # a cushion's cover: an accessory of an accessory
        ("Cover for headrest", PART),
        ("Floor protector", PART),
        ("Smart lock", PART),
        ("Pair of armrests", PART),
        ("Leg adjustable", PART),  # a part noun first, and no other noun a kind knows
        ("Leg cone shaped", PART),
        ("Foot rest", ("pouf", "floor")),  # but a known kind comes first
        ("Foam mattress", ("part", "part")),  # a bed's, photographed alone
        ("Bed frame with mattress", ("bed", "floor")),
        ("Storage unit with smart lock", ("shelving", "floor")),
        ("adjustable clothes rail", ("wardrobe", "floor")),
        # a frame holding baskets, shelves or rails stands on the floor; "frame" alone hangs
        ("Frame with mesh baskets", ("shelving", "floor")),
        ("Frame with clothes rail", ("shelving", "floor")),
        ("Framewire basketstop shelf", ("shelving", "floor")),  # dev data: "/" lost
        ("3 sectionsshelves", ("shelving", "floor")),
        ("Framewire basketsclothes rails", ("shelving", "floor")),  # not a rail: a part
        ("Frame", ("wall item or frame", "wall")),
        ("Drawer frame", ("part", "part")),
        # hung, or standing on other furniture: no floor check
        ("wall mounted shelving unit", ("wall unit", "wall")),
        ("Wall-mounted desk", ("wall unit", "wall")),
        ("Mirror cabinet", ("wall unit", "wall")),
        ("Pendant lamp", ("ceiling lamp", "wall")),
        ("table lamp", ("decor", "top")),
        ("Plant pot", ("decor", "top")),
        ("Laptop stand", ("decor", "top")),
        ("storage box", ("box or basket", "any")),
        ("Bed storage box", ("box or basket", "any")),
    ],
)
def test_catalog_product_types_read_as_kinds(text: str, expected: tuple[str, str]) -> None:
    kind = kind_of(text)
    assert kind is not None and (kind.name, kind.support) == expected


def test_unknown_text_is_no_kind_and_every_kind_is_sane() -> None:
    assert (
        kind_of(None) is None and kind_of("") is None and kind_of("active sitstand support") is None
    )
    for _, kind in KINDS:
        assert kind.support in SUPPORTS
        if kind.support == "floor":
            assert 0 < kind.low_cm < kind.high_cm


@pytest.mark.parametrize(
    ("text", "against_wall"),
    [
        ("Bookcase", True),
        ("Wardrobe with 2 doors", True),
        ("TV bench", True),
        ("Bed frame high", True),
        ("Chest of 3 drawers", True),
        ("Chair with chair pad", False),
        ("Extendable table", False),
        ("Bedside table", False),
        ("Armchair", False),
    ],
)
def test_furniture_that_stands_against_a_wall_says_so(text: str, against_wall: bool) -> None:
    kind = kind_of(text)
    assert kind is not None and kind.against_wall is against_wall


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Frame", "wall item or frame"),  # alone it reads as a picture frame
        ("IKEA > Bookcases & shelving units > Frame", "shelving"),
        ("Cabinets & cupboards > Frame", "shelving"),
        ("TV & media furniture > Frames", "shelving"),
        ("Decor > Frame", "wall item or frame"),
        ("Bookcases & shelving units > Wall shelf", "wall unit"),  # the category only for frames
        ("IKEA > Beds > Bed frame", "bed"),
        ("Outdoor > Chair", "chair"),
    ],
)
def test_a_catalog_category_tells_a_storage_frame_from_a_picture_frame(
    text: str, name: str
) -> None:
    kind = kind_of(text)
    assert kind is not None and kind.name == name
    if name == "shelving":
        assert kind.support == "floor"
    if text.startswith("Outdoor"):  # the category still says where it belongs
        assert kind.setting == "outdoor"


def test_childrens_furniture_is_a_smaller_kind() -> None:
    adult, child = kind_of("Bench"), kind_of("Children's bench")
    assert adult is not None and child is not None
    assert child.name == "children's bench"
    assert (child.low_cm, child.high_cm) == pytest.approx(
        (adult.low_cm * CHILD_SCALE, adult.high_cm * CHILD_SCALE)
    )
    assert kind_of("Kids chair").name == "children's chair"  # type: ignore[union-attr]
    bedside = kind_of("Children's bedside table")
    assert bedside is not None and (bedside.name, bedside.high_cm) == (
        "children's bedside table",
        pytest.approx(80 * CHILD_SCALE),
    )
    # a children's table is a table at 0.6 (33-66 cm), once, not a side table shrunk again
    table = kind_of("Children's table")
    assert table is not None and (table.name, table.low_cm, table.high_cm) == (
        "children's table",
        pytest.approx(55 * CHILD_SCALE),
        pytest.approx(110 * CHILD_SCALE),
    )
    # the category may say it too
    assert kind_of("Children's furniture > Chair").name == "children's chair"  # type: ignore[union-attr]
    # a children's storage frame or wardrobe is not resized, nor a junior chair (adult height)
    assert kind_of("Children's furniture > Frame").high_cm == 240  # type: ignore[union-attr]
    assert kind_of("Junior chair").name == "chair"  # type: ignore[union-attr]
    assert kind_of("Children's desk chair").name == "chair"  # type: ignore[union-attr]
    # the room rules still know it: no children's armchair in a kitchen
    assert check_setting(kind_of("Children's armchair"), "Kitchen")


def test_implied_height_inverts_a_pinhole_camera() -> None:
    """An object of height H at distance Z, seen by a level camera at eye height e with focal f and
    horizon row y_h, spans rows y_h + f·(e − H)/Z (top) to y_h + f·e/Z (base)."""
    f, y_h, rows = 800.0, 420.0, 1000.0
    for e, height, z in ((120.0, 45.0, 300.0), (150.0, 200.0, 450.0), (90.0, 80.0, 250.0)):
        top, base = y_h + f * (e - height) / z, y_h + f * e / z
        exact = Camera(horizon=(y_h / rows, y_h / rows), eye_cm=(e, e))
        low, high = implied_height(top / rows, base / rows, exact)
        assert low == pytest.approx(height) and high == pytest.approx(height)
        # a prior that contains the true camera gives an interval around the true height
        low, high = implied_height(top / rows, base / rows, Camera())
        assert low < height < high


def test_size_range_is_the_kinds_heights_at_the_typical_camera() -> None:
    # one camera: horizon 40 % down, eye 100 cm; a base 90 % down is 0.5 of the height below
    # the horizon, so 1 cm is 0.005 of the height
    exact = Camera(horizon=(0.4, 0.4), eye_cm=(100.0, 100.0))
    assert typical(exact) == (0.4, 100.0)
    pouf = kind_of("pouffe")  # 25-55 cm
    assert pouf is not None
    low, high = size_range(pouf, 0.9, exact, 1.0)  # type: ignore[misc]
    assert (low, high) == (pytest.approx(25 * 0.005), pytest.approx(55 * 0.005))
    wide = size_range(pouf, 0.9, exact, 1.2)
    assert wide == (pytest.approx(25 * 0.005 / 1.2), pytest.approx(55 * 0.005 * 1.2))
    # the prior's middle: horizon 47.5 %, eye sqrt(70 · 170) ≈ 109 cm
    horizon, eye = typical(Camera())
    assert horizon == pytest.approx(0.475) and eye == pytest.approx(109.087, abs=1e-3)
    # nothing to say for a wall kind, an unknown one, or a base at or above the horizon
    assert size_range(kind_of("mirror"), 0.9, exact, 1.2) is None
    assert size_range(None, 0.9, exact, 1.2) is None
    assert size_range(pouf, 0.4, exact, 1.2) is None
    with pytest.raises(InputError, match="tolerance"):
        size_range(pouf, 0.9, exact, 0.5)
    with pytest.raises(InputError, match="base"):
        size_range(pouf, 1.5, exact, 1.2)


def test_each_refusal_and_what_passes() -> None:
    chair, pouf = kind_of("chair"), kind_of("pouffe")
    # base above the highest horizon the prior allows: not on the floor
    up = check(chair, 0.05, 0.25)
    assert up.reason == "support" and "above eye level" in up.why
    assert math.isinf(up.measures["implied_low_cm"])
    # a pouf from 20 % to 95 % of the height: at least 70·0.75/0.65 ≈ 81 cm > 55 · 1.25
    giant = check(pouf, 0.20, 0.95)
    assert giant.reason == "scale" and "at most 55 cm" in giant.why
    assert giant.measures["implied_low_cm"] > 55 * 1.25
    # a chair a sliver tall on the floor: at most 170·0.02/0.33 ≈ 10 cm < 45 / 1.25
    tiny = check(chair, 0.96, 0.98)
    assert tiny.reason == "scale" and "at least 45 cm" in tiny.why
    # a chair from 55 % to 90 %: 70·0.35/0.6 ≈ 41 to 170·0.35/0.25 = 238 cm holds 45-110
    fine = check(chair, 0.55, 0.90)
    assert fine.reason is None and fine.measures["implied_low_cm"] < 45 < 110
    # kinds that do not stand on the floor, and unknown ones, are not checked
    assert check(kind_of("table lamp"), 0.05, 0.25).reason is None
    assert check(None, 0.05, 0.25).reason is None
    assert check(chair, 0.05, 0.25, Camera(horizon=(0.0, 0.6))).reason is None  # a looser prior


def test_the_products_own_height_narrows_its_kinds_heights() -> None:
    from adstage.stage.pipeline import StageOptions

    wardrobe = StageOptions(kind="corner wardrobe").product_kind
    own = StageOptions(kind="corner wardrobe", height_cm=236).product_kind
    assert wardrobe is not None and own is not None
    assert (wardrobe.low_cm, wardrobe.high_cm) == (140, 240)
    assert (own.low_cm, own.high_cm) == (236, 236) and own.name == "wardrobe"
    # from 70 % to 90 % of the height: at most 170·0.2/0.25 = 136 cm tall, which a 140–240 cm
    # wardrobe may be (within the prior's tolerance, ≥ 112 cm) but not one of 236 cm (≥ 189)
    _, high = implied_height(0.70, 0.90, Camera())
    assert high < 236 / 1.25 < 240 and high > 140 / 1.25  # the kind passes, the product not
    assert check(wardrobe, 0.70, 0.90).reason is None
    too_small = check(own, 0.70, 0.90)
    assert too_small.reason == "scale" and "at least 236 cm" in too_small.why
    # only for kinds that stand on the floor; a height needs a kind
    assert StageOptions(kind="wall cabinet", height_cm=60).product_kind.low_cm == 0  # type: ignore[union-attr]
    with pytest.raises(InputError, match="needs a kind"):
        StageOptions(height_cm=236)
    for bad in (0, -5, 5000, "tall", True):
        with pytest.raises(InputError, match="height_cm"):
            StageOptions(kind="wardrobe", height_cm=bad)  # type: ignore[arg-type]


def test_camera_and_rows_are_checked() -> None:
    with pytest.raises(InputError, match="horizon"):
        Camera(horizon=(0.7, 0.3))
    with pytest.raises(InputError, match="eye_cm"):
        Camera(eye_cm=(0.0, 100.0))
    with pytest.raises(InputError, match="tolerance"):
        Camera(tolerance=0.5)
    with pytest.raises(InputError, match="top"):
        implied_height(0.8, 0.4, Camera())


def _box(h: int, w: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    mask = np.zeros((h, w), bool)
    mask[y0:y1, x0:x1] = True
    return mask


def test_the_screen_refuses_a_floor_product_on_a_wall_slot() -> None:
    product = _box(100, 80, 5, 95, 5, 75)
    shelf = _box(300, 400, 25, 70, 160, 195)  # high on the wall: base at 23 % of the height
    assert screen(product, shelf).passed  # no kind: not checked (the paper's behaviour)
    verdict = screen(product, shelf, kind=kind_of("armchair"))
    assert not verdict.passed and verdict.reason == "support"
    assert screen(product, shelf, kind=kind_of("vase")).passed  # it may stand on a shelf
    floor = _box(300, 400, 170, 270, 160, 240)
    assert screen(product, floor, kind=kind_of("armchair")).passed
    garden = screen(product, floor, kind=kind_of("armchair"), category="Outdoor")
    assert garden.reason == "setting" and "outdoor scene" in garden.why
    assert Screen().as_dict()["camera"]["horizon"] == (0.30, 0.65)


def test_stage_refuses_a_part_and_records_the_kind(tmp_path) -> None:
    pytest.importorskip("lancedb")
    from adstage.datasets.synthetic import SyntheticCatalog
    from adstage.stage.pipeline import stage

    syn = SyntheticCatalog(12, seed=1, size=(128, 128))
    cat = ingest_synthetic(syn, tmp_path)
    item = next(it for it in (syn[i] for i in range(len(syn))) if not it.staged)
    with pytest.raises(InputError, match="part or accessory"):
        stage(
            item.image, cat, mask=item.mask, k=1, inpainter="telea", kind="door knob",
            closeup=False,
        )  # fmt: skip
    staged = stage(
        item.image, cat, mask=item.mask, k=1, inpainter="telea", screen=None, kind="side table"
    )
    record = staged.provenance["kind"]
    assert record["text"] == "side table" and record["read_as"]["name"] == "side table"
    assert record["size_checked"] is False  # no screen, no check
    unknown = stage(
        item.image, cat, mask=item.mask, k=1, inpainter="telea", screen=None, kind="xyz"
    )
    assert unknown.provenance["kind"]["read_as"] is None
    with pytest.raises(InputError, match="kind"):
        stage(item.image, cat, mask=item.mask, k=1, kind=3)


def test_indoor_kinds_are_not_staged_in_outdoor_scenes() -> None:
    from types import SimpleNamespace

    from adstage.stage.pipeline import StageOptions, screen_matches
    from adstage.stage.scale import check_setting, scene_setting
    from adstage.types import Cutout

    assert [kind_of(t).setting for t in ("bed frame", "chair outdoor", "cabinet in/outdoor")] == [  # type: ignore[union-attr]
        "indoor",
        "outdoor",
        "any",
    ]
    assert kind_of("knob").setting == "any"  # type: ignore[union-attr]
    assert [scene_setting(c) for c in ("Outdoor", "Bedroom", "COCO > outdoor > bench")] == [
        "outdoor",
        "indoor",
        "outdoor",
    ]
    assert scene_setting("room") is None and scene_setting("COCO > furniture > chair") is None
    assert "outdoor scene" in check_setting(kind_of("bed frame"), "Outdoor")
    assert check_setting(kind_of("chair outdoor"), "Bedroom") == ""  # garden chairs may go indoors
    assert check_setting(kind_of("bed frame"), "room") == ""  # unknown setting: not refused
    assert check_setting(None, "Outdoor") == ""
    # rooms a kind is not staged in: a bed in a kitchen, a sofa in a laundry, not the reverse
    assert "does not belong in this room" in check_setting(kind_of("bed frame"), "Kitchen")
    assert "does not belong in this room" in check_setting(kind_of("Day bed"), "Dining")
    assert "does not belong in this room" in check_setting(kind_of("3-seat sofa"), "Laundry")
    assert check_setting(kind_of("3-seat sofa"), "Dining") == ""  # open-plan living and dining
    assert "does not belong in this room" in check_setting(kind_of("Bedside table"), "Kitchen")
    assert check_setting(kind_of("Side table"), "Kitchen") == ""
    assert check_setting(kind_of("Bedside table"), "Bedroom") == ""
    assert check_setting(kind_of("bed frame"), "Living Room") == ""
    assert check_setting(kind_of("chair"), "Kitchen") == ""
    assert check_setting(kind_of("sofa outdoor"), "Kitchen") == ""

    slot = np.zeros((200, 200), bool)
    slot[60:150, 80:140] = True
    alpha = np.zeros((100, 70), np.float32)
    alpha[5:95, 5:65] = 1.0
    cut = Cutout.from_alpha(np.full((100, 70, 3), 200, np.uint8), alpha)
    matches = [  # the horizon is off by default: the scene file is never read
        SimpleNamespace(id="garden", category="Outdoor", mask=lambda: slot, uri="unused"),
        SimpleNamespace(id="bedroom", category="Bedroom", mask=lambda: slot, uri="unused"),
    ]
    chosen, record = screen_matches(cut, matches, StageOptions(k=2, kind="bed"))  # type: ignore[arg-type]
    assert [m.id for m in chosen] == ["bedroom"] and record["reasons"] == {"setting": 1}
    assert "outdoor scene" in record["example"]
    chosen, _ = screen_matches(cut, matches, StageOptions(k=2))  # type: ignore[arg-type]
    assert [m.id for m in chosen] == ["garden", "bedroom"]


def test_a_screen_read_back_from_json_keeps_its_camera() -> None:
    import json

    again = Screen(**json.loads(json.dumps(Screen(camera=Camera(tolerance=2.0)).as_dict())))
    assert isinstance(again.camera, Camera) and again.camera.tolerance == 2.0
    with pytest.raises(InputError, match="camera"):
        Screen(camera="level")  # type: ignore[arg-type]


def test_a_kind_names_a_known_support_and_setting() -> None:
    from adstage.stage.scale import Kind

    with pytest.raises(InputError, match="support"):
        Kind("shelf", 10, 20, "ceiling")
    with pytest.raises(InputError, match="setting"):
        Kind("chair", 45, 110, "floor", "moon")
