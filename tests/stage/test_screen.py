"""The slot screen (adstage.stage.screen): each refusal on a mask made to fail it, a good slot passes,
and staging refuses, records and can switch it off."""

from __future__ import annotations

import contextlib
import shutil
import types
from dataclasses import replace

import cv2
import numpy as np
import pytest

from adstage.errors import AdstageError, InputError
from adstage.stage.scale import Camera
from adstage.stage.screen import REASONS, Screen, screen, solidity
from adstage.types import Match
from scenes import ingest_synthetic


def _plain_item(tmp_path, n: int):  # type: ignore[no-untyped-def]
    """A catalog of the 60-item synthetic set (seed 3, half staged) and its ``n``-th plain item."""
    from adstage.datasets.synthetic import SyntheticCatalog
    from adstage.retrieve.ingest import open_or_create

    syn = SyntheticCatalog(60, seed=3, size=(256, 256), staged_fraction=0.5)
    # Ingested once per test session (seconds each time; its scenes are read where they were
    # written), its catalog copied for each test (which may write to it).
    built = tmp_path.parent / "synthetic-60-seed3"
    if not (built / "done").is_file():
        shutil.rmtree(built, ignore_errors=True)
        ingest_synthetic(syn, built)
        (built / "done").touch()
    shutil.copytree(built / "cat", tmp_path / "cat")
    cat = open_or_create(tmp_path / "cat", embedders=["classical"])
    plain = [item for item in (syn[i] for i in range(len(syn))) if not item.staged]
    return cat, plain[n]


def _box(h: int, w: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    mask = np.zeros((h, w), bool)
    mask[y0:y1, x0:x1] = True
    return mask


def _anchor(item: str, similarity: float, n: int = 0) -> Match:
    """Slot ``n`` of the catalog item ``item``, retrieved at ``similarity``: a free-space anchor
    for the tests that stand in for :func:`adstage.stage.pipeline.stage_beside`."""
    return Match(
        f"{item}-{n}", item, n, "x.png", "", True, 0.0, similarity, None, (0, 0, 10, 10),
        (0.0, 0.0), 0.1, (400, 300),
    )  # fmt: skip


PRODUCT = _box(100, 120, 10, 90, 10, 110)  # a 100×80 product (its own cut-out mask)


def test_a_slot_the_product_covers_passes() -> None:
    slot = _box(300, 400, 150, 230, 150, 250)  # 100×80, same shape
    verdict = screen(PRODUCT, slot)
    assert verdict.passed and verdict.reason is None
    assert verdict.measures["uncovered"] < 0.05
    assert verdict.measures["solidity"] > 0.9
    assert verdict.measures["frame"] == 0 and verdict.measures["lift"] == 0


@pytest.mark.parametrize(
    ("slot", "reason", "words"),
    [
        (_box(300, 400, 20, 290, 20, 380), "area", "giant"),
        (_box(300, 400, 150, 156, 150, 154), "area", "few pixels"),
        (_box(300, 400, 150, 230, 0, 100), "frame", "left edge"),
        (_box(300, 400, 150, 230, 300, 400), "frame", "right edge"),
        (_box(300, 400, 200, 300, 150, 250), "frame", "bottom edge"),
        # a tall, narrow slot: the wide product fits its width and leaves most of it uncovered
        (_box(300, 400, 20, 280, 180, 220), "uncovered", "uncovered"),
    ],
)
def test_each_refusal_names_its_reason(slot: np.ndarray, reason: str, words: str) -> None:
    verdict = screen(PRODUCT, slot)
    assert not verdict.passed and verdict.reason == reason and reason in REASONS
    assert words in verdict.why


def test_a_product_standing_over_the_scene_s_other_objects_is_refused_when_asked() -> None:
    """A wide product in the place of a narrow chair stands over the desk beside it (the scene's
    other catalog object): refused as ``others`` when the screen checks them."""
    wide = _box(100, 200, 10, 90, 10, 190)  # 180×80
    chair = _box(300, 400, 150, 230, 180, 240)  # 60×80: the product is fitted to its height
    desk = _box(300, 400, 140, 230, 240, 330)  # right beside the chair
    asked = Screen(max_over_others=0.1, max_uncovered=1.0)
    verdict = screen(wide, chair, asked, others=desk, fit="height")
    assert not verdict.passed and verdict.reason == "others" and "other objects" in verdict.why
    assert verdict.measures["over_others"] > 0.1
    default = Screen(max_uncovered=1.0)
    assert screen(wide, chair, default, others=desk, fit="height").passed  # off by default
    assert screen(wide, chair, asked, fit="height").passed  # no others given: not checked
    far = _box(300, 400, 140, 230, 340, 390)  # an object farther right, clear of the product
    assert screen(wide, chair, asked, others=lambda: far, fit="height").passed
    with pytest.raises(InputError, match="others"):
        screen(wide, chair, asked, others=np.zeros((10, 10), bool), fit="height")


def test_an_outline_is_a_fragment() -> None:
    outline = _box(300, 400, 100, 240, 120, 280) & ~_box(300, 400, 104, 236, 124, 276)
    assert solidity(outline) < 0.25 < solidity(_box(300, 400, 100, 240, 120, 280))
    verdict = screen(PRODUCT, outline)
    assert verdict.reason == "fragment" and "fragmented" in verdict.why
    assert screen(PRODUCT, outline, Screen(min_solidity=0.0)).passed  # the threshold decides


def test_a_product_pushed_off_the_base_line_floats() -> None:
    # fit="width" makes the tall product taller than the scene allows above the slot's base: the
    # alignment shifts it down, off the base line.
    tall = _box(200, 60, 0, 200, 10, 50)
    slot = _box(300, 400, 40, 120, 100, 300)
    verdict = screen(tall, slot, Screen(max_uncovered=1.0, min_solidity=0.0), fit="width")
    assert verdict.reason == "floating" and verdict.measures["lift"] > 0.02


def test_a_wall_or_top_kind_does_not_take_the_place_of_an_object_on_the_floor() -> None:
    from adstage.stage.scale import kind_of

    cabinet = kind_of("wall cabinet")
    assert cabinet is not None and cabinet.support == "wall"
    low = _box(300, 400, 190, 270, 150, 250)  # its base 90 % down: it stands on the floor
    high = _box(300, 400, 60, 140, 150, 250)  # 47 % down: it hangs on the wall
    on = Screen()
    assert on.wall_max_base == 0.85
    verdict = screen(PRODUCT, low, on, kind=cabinet)
    assert verdict.reason == "support" and "hangs on a wall" in verdict.why
    assert screen(PRODUCT, high, on, kind=cabinet).passed
    assert screen(PRODUCT, low, Screen(wall_max_base=1.0), kind=cabinet).passed  # off
    assert screen(PRODUCT, low, on, kind=kind_of("chest of drawers")).passed  # it stands
    assert screen(PRODUCT, low, on).passed  # no kind: not known to hang
    lamp = screen(PRODUCT, low, on, kind=kind_of("table lamp"))  # it would stand on the floor
    assert lamp.reason == "support" and "stands on other furniture" in lamp.why
    assert screen(PRODUCT, high, on, kind=kind_of("table lamp")).passed


def test_a_box_of_known_height_is_sized_where_it_stands_on_the_floor() -> None:
    import dataclasses

    from adstage.stage.scale import ANY, FLOOR, kind_of, standing

    box = kind_of("storage box")
    assert box is not None and box.support == ANY and box.high_cm == 0
    assert standing(box) is box and standing(None) is None  # no height: nothing to check
    ten = dataclasses.replace(box, low_cm=10.0, high_cm=10.0)  # a 10-cm storage box
    assert standing(ten).support == FLOOR  # type: ignore[union-attr]
    chest = kind_of("chest of drawers")
    assert standing(chest) is chest
    low = _box(300, 400, 190, 270, 150, 250)  # 80 px tall, base 90 % down: on the floor
    high = _box(300, 400, 60, 140, 150, 250)  # the same size 47 % down: on other furniture
    verdict = screen(PRODUCT, low, Screen(), kind=ten)
    assert verdict.reason == "scale" and "at most 10 cm" in verdict.why
    assert screen(PRODUCT, high, Screen(), kind=ten).passed  # its support height is unknown
    assert screen(PRODUCT, low, Screen(), kind=box).passed  # its height unknown: not checked
    assert screen(PRODUCT, low, Screen(wall_max_base=1.0), kind=ten).passed  # the rule off


def test_stage_options_give_a_box_its_height() -> None:
    from adstage.stage.pipeline import StageOptions, _kind_record

    opts = StageOptions(kind="Storage box", height_cm=10.0)
    assert opts.product_kind is not None and opts.product_kind.high_cm == 10.0
    record = _kind_record(opts)
    assert record is not None and record["size_checked"] and record["only_on_the_floor"]
    chair = _kind_record(StageOptions(kind="chair"))
    assert chair is not None and chair["size_checked"] and not chair["only_on_the_floor"]
    assert _kind_record(StageOptions(kind="Storage box"))["size_checked"] is False  # type: ignore[index]
    lamp = StageOptions(kind="table lamp", height_cm=40.0).product_kind  # stands on furniture
    assert lamp is not None and lamp.high_cm == 0


def test_the_typical_camera_check_refuses_what_the_priors_whole_range_admits() -> None:
    from adstage.stage.scale import kind_of

    chair = kind_of("chair")  # 45-110 cm
    tall = _box(250, 110, 5, 245, 5, 105)  # a 100×240 product
    slot = _box(300, 400, 45, 285, 150, 250)  # base 95 % down, 80 % of the height tall
    # The prior's range (horizon 30-65 %, eye 70-170 cm) admits 86-453 cm: passed. At its
    # middle (horizon 47.5 %, eye 109 cm) the chair would be 0.8 / 0.475 · 109 ≈ 184 cm, more
    # than 110 · 1.3.
    assert screen(tall, slot, Screen(), kind=chair).passed
    verdict = screen(tall, slot, Screen(typical=1.3), kind=chair)
    assert verdict.reason == "scale" and "about 184 cm" in verdict.why
    assert screen(tall, slot, Screen(typical=1.7), kind=chair).passed
    assert screen(tall, slot, Screen(typical=1.3)).passed  # no kind: no size check
    for bad in (0.5, True, "1.3"):
        with pytest.raises(InputError, match="typical"):
            Screen(typical=bad)  # type: ignore[arg-type]


def test_thresholds_and_masks_are_checked() -> None:
    with pytest.raises(InputError, match="max_area"):
        Screen(max_area=1.5)
    with pytest.raises(InputError, match="max_uncovered"):
        Screen(max_uncovered=-0.1)
    with pytest.raises(InputError, match="work_side"):
        Screen(work_side=8)
    with pytest.raises(InputError, match="empty"):
        screen(PRODUCT, np.zeros((300, 400), bool))


def test_stage_refuses_with_reasons_records_and_can_switch_off(tmp_path) -> None:
    pytest.importorskip("lancedb")
    from adstage.datasets.synthetic import SyntheticCatalog
    from adstage.stage.pipeline import stage

    syn = SyntheticCatalog(12, seed=1, size=(128, 128))
    cat = ingest_synthetic(syn, tmp_path)
    plain = [item for item in (syn[i] for i in range(len(syn))) if not item.staged]
    # Item 0 has no slot it would cover well in this small catalog: refused, every reason counted.
    with pytest.raises(AdstageError, match="no retrieved slot can take this product") as caught:
        stage(plain[0].image, cat, mask=plain[0].mask, k=2, inpainter="telea", free_space=False)
    assert "refused" in str(caught.value) and "e.g." in str(caught.value)
    # Without the screen it is staged into the top slots as retrieved (the paper's behaviour).
    loose = stage(plain[0].image, cat, mask=plain[0].mask, k=2, inpainter="telea", screen=None)
    assert len(loose.candidates) == 2 and loose.provenance["screen"] is None
    # A product the screen accepts: what was refused is recorded, and every candidate passes.
    kept = stage(plain[5].image, cat, mask=plain[5].mask, k=2, inpainter="telea")
    record = kept.provenance["screen"]
    assert record["max_uncovered"] == Screen().max_uncovered
    assert record["retrieved"] == record["passed"] + record["refused"]
    assert len(kept.candidates) == min(2, record["passed"])
    assert sum(record["reasons"].values()) == record["refused"]
    for cand in kept.candidates:
        assert screen(kept.product.mask, cand.match.mask()).passed


def test_screen_matches_stages_the_slots_needing_least_fill() -> None:
    """Of the first 2k slots that pass, the k the product leaves least uncovered are staged."""
    from types import SimpleNamespace

    from adstage.stage.pipeline import StageOptions, screen_matches
    from adstage.types import Cutout

    def slot(x0: int, x1: int, y0: int) -> np.ndarray:
        mask = np.zeros((200, 200), bool)
        mask[y0:150, x0:x1] = True
        return mask

    alpha = np.zeros((60, 40), np.float32)
    alpha[5:55, 5:35] = 1.0
    cut = Cutout.from_alpha(np.full((60, 40, 3), 200, np.uint8), alpha)
    slots = {
        "wide": slot(40, 110, 60),  # passes, but the product leaves much of it uncovered
        "fits": slot(120, 150, 100),  # the product's shape: little left uncovered
        "tiny": slot(10, 12, 148),  # refused (area)
        "late": slot(50, 80, 100),  # fits as well, but retrieved after 2k slots passed
    }
    matches = [
        SimpleNamespace(id=name, category="room", mask=lambda m=mask: m, uri="unused")
        for name, mask in slots.items()
    ]
    options = StageOptions(k=1)
    chosen, record = screen_matches(cut, matches, options)  # type: ignore[arg-type]
    assert [m.id for m in chosen] == ["fits"]
    assert record["passed"] == 2 and record["refused"] == 0 and record["retrieved"] == 2
    # in retrieval order without the ranking, "wide" would have been staged: it comes first
    wide = screen(cut.mask, slots["wide"]).measures["uncovered"]
    fits = screen(cut.mask, slots["fits"]).measures["uncovered"]
    assert screen(cut.mask, slots["wide"]).passed and wide > fits

    # preferring slots that leave at most 0.15 uncovered: screening goes on past "wide" and
    # "fits" until 2k preferred slots pass (here: the list ends), and "late" is reached
    late = screen(cut.mask, slots["late"]).measures["uncovered"]
    assert wide > 0.15 >= max(fits, late), (wide, fits, late)
    prefer = StageOptions(k=2, screen=Screen(prefer_uncovered=0.15))
    chosen, record = screen_matches(cut, matches, prefer)  # type: ignore[arg-type]
    assert sorted(m.id for m in chosen) == ["fits", "late"]
    assert record["retrieved"] == 4 and sorted(record["preferred"]) == ["fits", "late"]
    chosen, record = screen_matches(cut, matches[:1], prefer)  # type: ignore[arg-type]
    assert [m.id for m in chosen] == ["wide"] and record["preferred"] == []  # the fallback
    # k = 1: the default stops once 2 slots passed ("wide", "fits"); preferring goes on to "late"
    assert screen_matches(cut, matches, StageOptions(k=1))[1]["retrieved"] == 2  # type: ignore[arg-type]
    one = StageOptions(k=1, screen=Screen(prefer_uncovered=0.15))
    assert screen_matches(cut, matches, one)[1]["retrieved"] == 4  # type: ignore[arg-type]


# Free-space placement (adstage.stage.freespace)


def _room() -> np.ndarray:
    """A 300×400 room: plain wall above row 150, plain floor below it."""
    scene = np.empty((300, 400, 3), np.uint8)
    scene[:150] = (200, 190, 170)
    scene[150:] = (120, 90, 60)
    return scene


def test_free_space_stands_the_product_beside_the_object_on_its_base_line() -> None:
    from adstage.stage.freespace import place_beside

    scene = _room()
    slot = _box(300, 400, 160, 240, 150, 250)
    placement = place_beside(scene, PRODUCT, slot, [slot])
    assert placement is not None
    x0, y0, x1, y1 = placement.box
    assert y1 == 240  # the slot's base line
    assert x0 >= 250  # right of the slot, clear of it
    assert (x1 - x0, y1 - y0) == (100, 80)  # the scale it would have in the slot's place
    # Right blocked by another object: it goes left instead.
    other = _box(300, 400, 150, 250, 255, 395)
    left = place_beside(scene, PRODUCT, slot, [slot, other])
    assert left is not None and left.box[2] <= 150
    # Both sides blocked: no place.
    both = other | _box(300, 400, 150, 250, 5, 145)
    assert place_beside(scene, PRODUCT, slot, [slot, both]) is None


def test_free_space_keeps_the_product_within_the_heights_given() -> None:
    from adstage.stage.freespace import place_beside

    scene = _room()
    slot = _box(300, 400, 160, 240, 150, 250)  # the slot's scale: 100×80
    shrunk = place_beside(scene, PRODUCT, slot, [slot], heights=(30.0, 40.0))
    assert shrunk is not None
    x0, y0, x1, y1 = shrunk.box
    assert y1 == 240 and (x1 - x0, y1 - y0) == (50, 40)  # at most 40 tall, its shape kept
    assert shrunk.scale == pytest.approx(0.5)
    assert x0 >= 250 and x0 - 250 < 15  # beside the slot, nearer than the full size's place
    grown = place_beside(scene, PRODUCT, slot, [slot], heights=(96.0, 200.0))
    assert grown is not None and grown.size == (120, 96) and grown.box[3] == 240
    # Not grown (furniture that stands against a wall): the slot's scale, but still shrunk.
    kept = place_beside(scene, PRODUCT, slot, [slot], heights=(96.0, 200.0), grow=False)
    assert kept is not None and kept.size == (100, 80)
    # ...unless that is far smaller than it is: 80 px is 0.83 of 96.
    low = {"heights": (96.0, 200.0), "grow": False}
    assert place_beside(scene, PRODUCT, slot, [slot], **low, least=0.8) == kept
    assert place_beside(scene, PRODUCT, slot, [slot], **low, least=0.85) is None
    assert place_beside(scene, PRODUCT, slot, [slot], heights=(96.0, 200.0), least=0.85) == grown
    with pytest.raises(InputError, match="least"):
        place_beside(scene, PRODUCT, slot, [slot], **low, least=1.5)
    small = place_beside(scene, PRODUCT, slot, [slot], heights=(30.0, 40.0), grow=False)
    assert small is not None and small.size == (50, 40)
    same = place_beside(scene, PRODUCT, slot, [slot], heights=(60.0, 100.0))
    assert same is not None and same.size == (100, 80)  # inside the range: the slot's scale
    # Grown taller than the room above the base line: no place.
    assert place_beside(scene, PRODUCT, slot, [slot], heights=(260.0, 300.0)) is None
    with pytest.raises(InputError, match="heights"):
        place_beside(scene, PRODUCT, slot, [slot], heights=(40.0, 30.0))
    # Sized to a few pixels: no place (it would be a dot).
    assert place_beside(scene, PRODUCT, slot, [slot], heights=(2.0, 4.0)) is None


def test_free_space_refuses_a_base_line_on_another_surface() -> None:
    from adstage.stage.freespace import place_beside

    scene = _room()
    scene[240:, 250:] = (30, 140, 200)  # right of the slot, under its base line: not the floor
    scene[240:, :150] = (30, 140, 200)  # and left of it
    slot = _box(300, 400, 160, 240, 150, 250)
    assert place_beside(scene, PRODUCT, slot, [slot]) is None
    with pytest.raises(InputError, match="does not match"):
        place_beside(scene, PRODUCT, slot[:100], [slot])


def test_stage_falls_back_to_free_space_and_removes_nothing(monkeypatch, tmp_path) -> None:
    pytest.importorskip("lancedb")
    from adstage.io.images import read_image
    from adstage.stage import pipeline
    from adstage.stage.pipeline import stage

    # a floor lamp: no slot here it would cover well, free floor beside some
    cat, item = _plain_item(tmp_path, 4)
    result = stage(item.image, cat, mask=item.mask, k=3, inpainter="telea", shadow=0.0)
    assert result.provenance["screen"]["free_space"] == len(result.candidates) >= 1
    for cand in result.candidates:
        assert cand.provenance["mode"] == "free-space" and cand.provenance["hole_pixels"] == 0
        scene = read_image(cand.match.uri)
        x0, y0, x1, y1 = cand.placement
        outside = np.ones(scene.shape[:2], bool)
        outside[y0:y1, x0:x1] = False
        # Nothing removed, nothing inpainted: every pixel outside the product's box is the
        # scene's (the light match and shadow act only around the product, shadow is off here).
        assert np.array_equal(cand.image[outside], scene[outside])
        assert not (cand.match.mask() & ~outside).any()  # beside the object, never over it
    with pytest.raises(AdstageError, match="no retrieved slot"):
        stage(item.image, cat, mask=item.mask, k=3, inpainter="telea", free_space=False)
    # The synthetic scenes hold one slot each: the scene's salient objects count as taken floor
    # too (the provenance says whether the saliency model ran); all salient, no free floor.
    seen = {cand.provenance["occupied"] for cand in result.candidates}
    assert seen <= {"catalog mask and u2net saliency", "catalog mask only (u2net unavailable)"}
    monkeypatch.setattr(pipeline, "_salient", lambda uri, scene: np.ones(scene.shape[:2], bool))
    with pytest.raises(AdstageError, match="no retrieved slot"):
        stage(item.image, cat, mask=item.mask, k=3, inpainter="telea")
    monkeypatch.setattr(pipeline, "_salient", lambda uri, scene: np.zeros(scene.shape[:2], bool))
    clear = stage(item.image, cat, mask=item.mask, k=3, inpainter="telea", shadow=0.0)
    assert [c.match.id for c in clear.candidates] == [c.match.id for c in result.candidates]
    assert {c.provenance["occupied"] for c in clear.candidates} == {
        "catalog mask and u2net saliency"
    }

    # A scene the catalog holds several slots of: its masks alone, no saliency run.
    def no_saliency(uri: str, scene: np.ndarray) -> None:
        raise AssertionError("saliency run for a scene with several slots")

    monkeypatch.setattr(pipeline, "_salient", no_saliency)
    real_slots = type(cat).item_slots
    monkeypatch.setattr(type(cat), "item_slots", lambda self, item: 2 * real_slots(self, item))
    several = stage(item.image, cat, mask=item.mask, k=3, inpainter="telea", shadow=0.0)
    assert {c.provenance["occupied"] for c in several.candidates} == {"catalog masks"}
    monkeypatch.undo()
    # A free-space placement gets the kind's size check too: under a camera prior whose eye is
    # 10 m up, every placement at the slot's scale means a giant floor lamp, and none is made.
    giant = Screen(camera=Camera(horizon=(0.0, 0.0), eye_cm=(1000.0, 1000.0)))
    unchecked = stage(item.image, cat, mask=item.mask, k=3, inpainter="telea", screen=giant)
    assert unchecked.provenance["screen"]["free_space"] >= 1  # no kind: no size check
    assert all(c.provenance.get("height_range_px") is None for c in unchecked.candidates)
    assert all(c.provenance["shown_of_lowest"] is None for c in unchecked.candidates)
    monkeypatch.setattr(pipeline, "FREE_SPACE_SIZE", None)
    with pytest.raises(AdstageError, match="no retrieved slot"):
        stage(
            item.image, cat, mask=item.mask, k=3, inpainter="telea", screen=giant, kind="floor lamp"
        )
    monkeypatch.undo()
    # Sized by that camera instead (FREE_SPACE_SIZE), the lamp is made small enough to pass:
    # at most 200 cm · FREE_SPACE_SIZE at 1000 cm per image height below the horizon.
    sized = stage(
        item.image, cat, mask=item.mask, k=3, inpainter="telea", screen=giant, kind="floor lamp"
    )
    assert sized.candidates
    for cand in sized.candidates:
        assert cand.provenance["sized_at"] == {"horizon": 0.0, "eye_cm": 1000.0}
        low, high = cand.provenance["height_range_px"]
        x0, y0, x1, y1 = cand.placement
        assert low - 1 <= y1 - y0 <= high + 1
        assert cand.provenance["shown_of_lowest"] == pytest.approx((y1 - y0) / low, abs=0.02)
        assert y1 - y0 <= 200 * pipeline.FREE_SPACE_SIZE / 1000 * y1 + 1


def test_free_space_grows_only_what_stands_in_the_open(monkeypatch, tmp_path) -> None:
    pytest.importorskip("lancedb")
    from adstage.stage import pipeline
    from adstage.stage.pipeline import stage

    cat, item = _plain_item(tmp_path, 4)
    calls: list[tuple[bool, object, bool]] = []
    real = pipeline.place_beside

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        edges = kwargs.get("edges_only", False)
        if edges:  # an edge place must be allowed and sized, or the call is for nothing
            assert kwargs["off_frame"] > 0 and kwargs["heights"] is not None
        calls.append((kwargs["grow"], kwargs["heights"], edges))
        if not edges:  # beside the anchor: FREE_SPACE_LEAST bounds what is not grown
            assert kwargs["least"] == pipeline.FREE_SPACE_LEAST
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "place_beside", spy)
    monkeypatch.setattr(pipeline, "FREE_SPACE_LEAST", 0.5)
    for kind, grown in (("floor lamp", True), ("bookcase", False)):
        calls.clear()
        with contextlib.suppress(AdstageError):  # no candidate is fine: what was asked matters
            stage(item.image, cat, mask=item.mask, k=3, inpainter="telea", kind=kind)
        open_floor = [(grow, heights) for grow, heights, edges in calls if not edges]
        assert open_floor and all(g is grown and h is not None for g, h in open_floor)
        # Furniture against a wall is grown only at the frame's edge (FREE_SPACE_GROW_AT_EDGE),
        # tried before each place in the open; the lamp never is.
        at_edge = [grow for grow, _, edges in calls if edges]
        if kind == "bookcase":
            assert at_edge and all(at_edge) and calls[0][2]
            assert all(calls[i - 1][2] for i, c in enumerate(calls) if i and not c[2])
        else:
            assert not at_edge
    # Never where the frame's edge is not allowed: a whole product, or an ad format's padding.
    for extra in ({"cut_by_frame": False}, {"ad_format": "1:1"}):
        calls.clear()
        with contextlib.suppress(AdstageError):
            stage(item.image, cat, mask=item.mask, k=3, inpainter="telea", kind="bookcase", **extra)
        assert calls and not any(edges for _, _, edges in calls)
    monkeypatch.setattr(pipeline, "FREE_SPACE_GROW_AT_EDGE", False)
    calls.clear()
    with contextlib.suppress(AdstageError):
        stage(item.image, cat, mask=item.mask, k=3, inpainter="telea", kind="bookcase")
    assert calls and not any(edges or grow for grow, _, edges in calls)
    monkeypatch.setattr(pipeline, "FREE_SPACE_GROW_AGAINST_WALL", True)
    calls.clear()
    with contextlib.suppress(AdstageError):
        stage(item.image, cat, mask=item.mask, k=3, inpainter="telea", kind="bookcase")
    assert calls and all(grow for grow, _, _ in calls)
    monkeypatch.setattr(pipeline, "FREE_SPACE_SIZE", None)
    calls.clear()
    with contextlib.suppress(AdstageError):
        stage(item.image, cat, mask=item.mask, k=3, inpainter="telea", kind="bookcase")
    assert calls and all(heights is None for _, heights, _ in calls)


def test_a_place_found_at_the_frame_edge_is_the_one_staged(monkeypatch, tmp_path) -> None:
    pytest.importorskip("lancedb")
    from adstage.stage import pipeline
    from adstage.stage.pipeline import stage

    cat, item = _plain_item(tmp_path, 4)
    real = pipeline.place_beside
    monkeypatch.setattr(pipeline, "FREE_SPACE_POOL", 0)

    ahead: list[bool] = []

    def edges_only(*args, **kwargs):  # type: ignore[no-untyped-def]
        # Only the call at the frame's edges may find a place: whatever is staged came from it.
        ahead.append(kwargs.get("floor_ahead", False))
        return real(*args, **kwargs) if kwargs.get("edges_only") else None

    monkeypatch.setattr(pipeline, "place_beside", edges_only)
    found = stage(item.image, cat, mask=item.mask, k=3, inpainter="telea", kind="bookcase")
    beside = [c for c in found.candidates if c.provenance["mode"] == "free-space"]
    assert beside and all(c.provenance["off_frame"] > 0 for c in beside)
    assert ahead and all(ahead)  # the floor in front of a base cut by the frame is checked
    monkeypatch.setattr(pipeline, "FREE_SPACE_GROW_AT_EDGE", False)
    with contextlib.suppress(AdstageError):
        found = stage(item.image, cat, mask=item.mask, k=3, inpainter="telea", kind="bookcase")
        assert not [c for c in found.candidates if c.provenance["mode"] == "free-space"]


def test_an_anchor_of_another_shape_is_tried_at_the_frame_edge_only(monkeypatch, tmp_path) -> None:
    pytest.importorskip("lancedb")
    from adstage.stage import pipeline
    from adstage.stage.pipeline import stage

    cat, item = _plain_item(tmp_path, 4)
    real = pipeline.place_beside
    calls: list[bool] = []

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(bool(kwargs.get("edges_only")))
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "FREE_SPACE_POOL", 0)
    monkeypatch.setattr(pipeline, "FREE_SPACE_EDGE_ANY_SHAPE", True)
    monkeypatch.setattr(pipeline, "_alike_in_shape", lambda cut, match: False)
    monkeypatch.setattr(pipeline, "place_beside", spy)
    found = stage(item.image, cat, mask=item.mask, k=3, inpainter="telea", kind="bookcase")
    beside = [c for c in found.candidates if c.provenance["mode"] == "free-space"]
    assert calls and all(calls)  # never a place beside such an anchor in the open
    assert beside and all(c.provenance["edges_only"] for c in beside)
    assert all(c.provenance["off_frame"] > 0 for c in beside)
    # A kind that does not stand against a wall gets no free space beside such anchors at all.
    calls.clear()
    with contextlib.suppress(AdstageError):
        found = stage(item.image, cat, mask=item.mask, k=3, inpainter="telea", kind="armchair")
        assert not [c for c in found.candidates if c.provenance["mode"] == "free-space"]
    assert not calls


def test_free_space_may_hide_part_of_an_object_standing_farther_back() -> None:
    from adstage.stage.freespace import place_beside

    scene = _room()
    slot = _box(300, 400, 160, 240, 150, 250)
    # A tall unit on both sides whose base (row 199) is well above the slot's base line (240):
    # it stands farther back, so the product may stand in front of it ...
    back = _box(300, 400, 100, 200, 5, 145) | _box(300, 400, 100, 200, 255, 395)
    placement = place_beside(scene, PRODUCT, slot, [slot, back])
    assert placement is not None and placement.box[3] == 240
    # ... but not when every occupied pixel counts, nor in front of an object on the same line.
    assert place_beside(scene, PRODUCT, slot, [slot, back], behind=None) is None
    level = _box(300, 400, 150, 240, 5, 145) | _box(300, 400, 150, 240, 255, 395)
    assert place_beside(scene, PRODUCT, slot, [slot, level]) is None
    # ``max_hidden``: the product hides at most that share of any object farther back. The
    # placement above covers part of the right-hand unit: a generous share keeps it, a share
    # below what any place would hide refuses them all.
    x0, _, x1, _ = placement.box
    hidden = back[100:200, x0:x1].sum() / back[100:200, 255:395].sum()
    assert 0.3 < hidden < 1.0
    assert place_beside(scene, PRODUCT, slot, [slot, back], max_hidden=0.99) == placement
    assert place_beside(scene, PRODUCT, slot, [slot, back], max_hidden=0.2) is None
    with pytest.raises(InputError, match="empty"):
        place_beside(scene, PRODUCT, np.zeros_like(slot), [slot])


def test_furniture_against_a_wall_hides_nothing_and_wall_or_top_kinds_never_stand_beside(
    monkeypatch, tmp_path
) -> None:
    pytest.importorskip("lancedb")
    from adstage.stage import freespace, pipeline
    from adstage.stage.pipeline import stage

    behind: list[float | None] = []
    real = freespace.place_beside

    def spy(*args, **kw):  # type: ignore[no-untyped-def]
        behind.append(kw["behind"])
        return real(*args, **kw)

    monkeypatch.setattr(pipeline, "place_beside", spy)
    cat, item = _plain_item(tmp_path, 4)  # the floor lamp: free space only (see above)

    def tried(kind: str) -> set[float | None]:
        behind.clear()
        # the kind's size check may refuse every place: the spy has seen the calls
        with contextlib.suppress(AdstageError):
            stage(item.image, cat, mask=item.mask, k=3, inpainter="telea", kind=kind)
        return set(behind)

    # With FREE_SPACE_AGAINST_WALL, a chair may stand in front of an object farther back but a
    # bookcase stands against the wall, so every object counts as taken (``behind=None``) ...
    monkeypatch.setattr(pipeline, "FREE_SPACE_AGAINST_WALL", True)
    assert tried("chair") == {pipeline.FREE_SPACE_BEHIND}
    assert tried("bookcase") == {None}
    monkeypatch.setattr(pipeline, "FREE_SPACE_AGAINST_WALL", False)
    assert tried("bookcase") == {pipeline.FREE_SPACE_BEHIND}
    # ... and a mirror or a table lamp is never stood on the floor: no free space is tried.
    for kind in ("mirror", "table lamp"):
        assert tried(kind) == set(), kind
        with pytest.raises(AdstageError, match="no retrieved slot"):
            stage(item.image, cat, mask=item.mask, k=3, inpainter="telea", kind=kind)


def test_a_free_space_anchor_must_stand_on_the_floor() -> None:
    from adstage.stage.pipeline import StageOptions, _on_the_floor
    from adstage.types import Match

    def slot(base: int) -> Match:
        box = (10, base - 50, 60, base)
        return Match(
            "a-0", "a", 0, "x.png", "", True, 0.0, 0.9, None, box, (0.0, 0.0), 0.1, (400, 300)
        )

    # A base 40 % down may be a wall cabinet's, 80 % down a basket's on a bench; 90 % is floor.
    assert not _on_the_floor(slot(120), StageOptions())
    assert not _on_the_floor(slot(240), StageOptions())
    assert _on_the_floor(slot(270), StageOptions())
    # ... and below every horizon the camera prior allows, when that is lower still.
    assert not _on_the_floor(
        slot(270), StageOptions(screen=Screen(camera=Camera(horizon=(0.5, 0.95))))
    )


def test_at_the_wall_furniture_against_a_wall_may_stand_beside_anchors_further_back(
    monkeypatch,
) -> None:
    from adstage.stage import pipeline
    from adstage.stage.pipeline import StageOptions, _on_the_floor
    from adstage.types import Match

    def slot(base: int) -> Match:
        box = (10, base - 50, 60, base)
        return Match(
            "a-0", "a", 0, "x.png", "", True, 0.0, 0.9, None, box, (0.0, 0.0), 0.1, (400, 300)
        )

    bookcase, chair = StageOptions(kind="Bookcase"), StageOptions(kind="Chair")
    assert not _on_the_floor(slot(210), bookcase)  # 70 % down: not by default
    monkeypatch.setattr(pipeline, "FREE_SPACE_AT_WALL", 0.6)
    assert _on_the_floor(slot(210), bookcase)
    assert not _on_the_floor(slot(210), chair)  # a chair stands in the open: as before
    assert not _on_the_floor(slot(180), bookcase)  # 60 % down: above the prior's lowest horizon


def test_free_space_first_by_default_ranks_free_space_before_replacements(
    monkeypatch, tmp_path
) -> None:
    pytest.importorskip("lancedb")
    from adstage.stage import pipeline
    from adstage.stage.pipeline import stage

    # a slot passes the screen, and there is free floor beside some objects
    cat, item = _plain_item(tmp_path, 7)
    usual = stage(
        item.image, cat, mask=item.mask, k=3, inpainter="telea", shadow=0.0, free_space_first=False
    )
    assert [c.provenance["mode"] for c in usual.candidates] == ["replace"] * 3
    passed: set[str] = set()
    real = pipeline._stage_beside_any

    def spy(cut, anchors, store, opts, name, **kw):  # type: ignore[no-untyped-def]
        passed.update(match.id for match, verdict in anchors if verdict is None)
        return real(cut, anchors, store, opts, name, **kw)

    monkeypatch.setattr(pipeline, "_stage_beside_any", spy)
    monkeypatch.setattr(pipeline, "FREE_SPACE_POOL", 0)  # the screened slots' anchors only
    first = stage(item.image, cat, mask=item.mask, k=3, inpainter="telea", shadow=0.0)
    modes = [c.provenance["mode"] for c in first.candidates]
    assert len(modes) == 3 and modes[0] == "free-space" and "replace" in modes
    assert modes == sorted(modes)  # "free-space" < "replace": every free-space one first
    assert first.provenance["screen"]["free_space"] == modes.count("free-space")
    # The slots that passed the screen are offered as free-space anchors too (verdict None), not
    # only the refused ones: the replacements' slots are among them.
    replaced = {c.match.id for c in first.candidates if c.provenance["mode"] == "replace"}
    assert replaced and replaced <= passed


def test_free_space_looks_further_down_the_catalog_when_the_screened_slots_anchor_none(
    monkeypatch, tmp_path
) -> None:
    pytest.importorskip("lancedb")
    from adstage.stage import pipeline
    from adstage.stage.pipeline import stage

    # no free space beside the 20 slots screened for staging, some further down
    cat, item = _plain_item(tmp_path, 2)
    calls: list[list[str]] = []
    real = pipeline._stage_beside_any

    def spy(cut, anchors, store, opts, name, **kw):  # type: ignore[no-untyped-def]
        calls.append([match.id for match, _ in anchors])
        return real(cut, anchors, store, opts, name, **kw)

    monkeypatch.setattr(pipeline, "_stage_beside_any", spy)
    monkeypatch.setattr(pipeline, "FREE_SPACE_POOL", 0)
    monkeypatch.setattr(pipeline, "FREE_SPACE_CLEAR_SCREENS", False)  # one pass: calls counted
    near = stage(item.image, cat, mask=item.mask, k=1, inpainter="telea")
    assert [c.provenance["mode"] for c in near.candidates] == ["replace"]
    assert len(calls) == 1 and "free_space_pool" not in near.provenance["screen"]
    calls.clear()
    monkeypatch.setattr(pipeline, "FREE_SPACE_POOL", 60)
    from adstage.retrieve import search

    embedded: list[int] = []
    real_load = search.load_embedder

    class Counting:  # the embedder, counting the images it embeds
        def __init__(self, name: str) -> None:
            self.inner = real_load(name)

        def embed(self, images, alphas):  # type: ignore[no-untyped-def]
            embedded.append(len(images))
            return self.inner.embed(images, alphas)

    monkeypatch.setattr(search, "load_embedder", Counting)
    far = stage(item.image, cat, mask=item.mask, k=1, inpainter="telea")
    assert embedded == [1]  # the second search reuses the product's embedding
    assert [c.provenance["mode"] for c in far.candidates] == ["free-space"]
    first, more = calls
    assert far.provenance["screen"]["free_space_pool"] == len(more) > 0
    assert not set(first) & set(more)  # the first pass's anchors are not tried again
    assert far.candidates[0].match.id in more


def test_free_space_candidates_may_take_their_own_shadow_model(monkeypatch, tmp_path) -> None:
    pytest.importorskip("lancedb")
    from adstage.stage import pipeline
    from adstage.stage.pipeline import StageOptions, stage

    monkeypatch.setattr(pipeline, "FREE_SPACE_POOL", 0)  # replacements too (see the test above)

    with pytest.raises(InputError, match="free_space_shadow_model"):
        StageOptions(free_space_shadow_model="raytraced")
    # free space and replacements both (see the free-space-first test)
    cat, item = _plain_item(tmp_path, 7)
    runs = [
        stage(item.image, cat, mask=item.mask, k=3, inpainter="telea", free_space_shadow_model=m)
        for m in (None, "occlusion")
    ]
    by_id = [{(c.provenance["mode"], c.match.id): c for c in run.candidates} for run in runs]
    assert by_id[0].keys() == by_id[1].keys()
    modes = {mode for mode, _ in by_id[0]}
    assert modes == {"free-space", "replace"}
    for key, drawn in by_id[0].items():
        rendered = by_id[1][key]
        assert drawn.provenance["shadow_model"] == "layers"
        if key[0] == "replace":  # replacements keep the drawn layers
            assert rendered.provenance["shadow_model"] == "layers"
            np.testing.assert_array_equal(drawn.image, rendered.image)
        else:
            assert rendered.provenance["shadow_model"] == "occlusion"
            assert not np.array_equal(drawn.image, rendered.image)


def test_a_passed_slot_anchors_free_space_like_an_uncovered_one(monkeypatch) -> None:
    from adstage.stage import pipeline
    from adstage.stage.pipeline import StageOptions, _stage_beside_any
    from adstage.stage.screen import Verdict

    tried: list[str] = []

    def beside(cut, match, store, opts, **kw):  # type: ignore[no-untyped-def]
        tried.append(match.item)
        return match.item  # stands for a candidate

    monkeypatch.setattr(pipeline, "stage_beside", beside)
    monkeypatch.setattr(pipeline, "_alike_in_shape", lambda cut, match: True)
    monkeypatch.setattr(pipeline, "_on_the_floor", lambda match, opts: True)
    anchors = [
        (_anchor("passed", 0.9), None),
        (_anchor("uncovered", 0.8), Verdict(False, "uncovered", "", {})),
        (_anchor("frame", 0.95), Verdict(False, "frame", "", {})),
    ]
    out = _stage_beside_any(None, anchors, None, StageOptions(k=3), "p")  # type: ignore[arg-type]
    assert tried == ["passed", "uncovered"] and out == ["passed", "uncovered"]


def test_an_anchor_of_another_shape_takes_against_wall_furniture_to_the_edge_only(
    monkeypatch,
) -> None:
    from adstage.stage import pipeline
    from adstage.stage.pipeline import StageOptions, _stage_beside_any

    tried: list[tuple[str, bool]] = []

    def beside(cut, match, store, opts, **kw):  # type: ignore[no-untyped-def]
        tried.append((match.item, kw["edges_only"]))
        return match.item

    monkeypatch.setattr(pipeline, "stage_beside", beside)
    monkeypatch.setattr(pipeline, "_alike_in_shape", lambda cut, match: match.item == "alike")
    monkeypatch.setattr(pipeline, "_on_the_floor", lambda match, opts: True)
    monkeypatch.setattr(pipeline, "FREE_SPACE_EDGE_ANY_SHAPE", True)
    anchors = [(_anchor("other", 0.9), None), (_anchor("alike", 0.8), None)]
    for kind, other in (("bookcase", True), ("armchair", False), (None, False)):
        tried.clear()
        opts = StageOptions(k=3, kind=kind)
        _stage_beside_any(None, anchors, None, opts, "p")  # type: ignore[arg-type]
        expected = [("other", True)] if other else []
        assert tried == [*expected, ("alike", False)], kind
    # Never where the frame's edge may not be used.
    for extra in ({"cut_by_frame": False}, {"ad_format": "1:1"}):
        tried.clear()
        _stage_beside_any(None, anchors, None, StageOptions(k=3, kind="bookcase", **extra), "p")  # type: ignore[arg-type]
        assert tried == [("alike", False)]
    monkeypatch.setattr(pipeline, "FREE_SPACE_EDGE_ANY_SHAPE", False)
    tried.clear()
    _stage_beside_any(None, anchors, None, StageOptions(k=3, kind="bookcase"), "p")  # type: ignore[arg-type]
    assert tried == [("alike", False)]


def test_free_space_fills_only_what_is_left_of_k_in_scenes_not_yet_used(monkeypatch) -> None:
    from adstage.stage import pipeline
    from adstage.stage.pipeline import StageOptions, _stage_beside_any

    monkeypatch.setattr(pipeline, "stage_beside", lambda cut, match, store, opts, **kw: match.id)
    monkeypatch.setattr(pipeline, "_alike_in_shape", lambda cut, match: True)
    monkeypatch.setattr(pipeline, "_on_the_floor", lambda match, opts: True)
    anchors = [(_anchor(item, 0.9 - i / 10, n), None) for i, (item, n) in enumerate(
        [("a", 0), ("b", 0), ("b", 1), ("c", 0), ("d", 0)]
    )]  # fmt: skip
    opts = StageOptions(k=3)
    # scene a already holds a candidate: two more, one per scene, a's slot skipped
    out = _stage_beside_any(None, anchors, None, opts, "p", scenes={"a"})  # type: ignore[arg-type]
    assert out == ["b-0", "c-0"]
    assert _stage_beside_any(None, anchors, None, opts, "p") == ["a-0", "b-0", "c-0"]  # type: ignore[arg-type]


def test_free_space_takes_a_clear_place_before_one_over_furniture_it_does_not_know() -> None:
    from adstage.stage.freespace import covered_share, place_beside

    scene = _room()
    slot = _box(300, 400, 160, 240, 150, 250)
    first = place_beside(scene, PRODUCT, slot, [slot])
    assert first is not None and first.box[0] >= 250  # right of the slot, as without a map
    objects = np.zeros((300, 400), bool)
    objects[first.box[1] : first.box[3], first.box[0] : first.box[2]] = True  # a crib there
    assert covered_share(objects, first.box) == 1.0
    assert covered_share(objects, (-50, 0, 0, 10)) == 0.0  # outside the frame: nothing covered
    assert covered_share(objects.astype(np.uint8) * 255, first.box) == 1.0  # a PNG's 0/255 map
    # The same place when it is the only one, or when the map is not asked about.
    assert place_beside(scene, PRODUCT, slot, [slot], objects=objects, max_covered=1.0) == first
    clear = place_beside(scene, PRODUCT, slot, [slot], objects=objects, max_covered=0.15)
    assert clear is not None and clear.box[2] <= 150  # left of the slot, on clear floor
    assert covered_share(objects, clear.box) <= 0.15
    # Every place over the map: the first one, or none with clear_only.
    everywhere = np.ones((300, 400), bool)
    assert place_beside(scene, PRODUCT, slot, [slot], objects=everywhere, max_covered=0.15) == first
    assert (
        place_beside(
            scene, PRODUCT, slot, [slot], objects=everywhere, max_covered=0.15, clear_only=True
        )
        is None
    )
    with pytest.raises(InputError, match="max_covered must be"):
        place_beside(scene, PRODUCT, slot, [slot], objects=objects, max_covered=1.5)
    with pytest.raises(InputError, match="object map"):
        place_beside(scene, PRODUCT, slot, [slot], objects=objects[:100], max_covered=0.15)


def test_free_space_looks_further_along_the_base_line_for_clear_floor_when_asked() -> None:
    from adstage.stage.freespace import covered_share, place_beside

    scene = np.empty((300, 800, 3), np.uint8)
    scene[:150] = (200, 190, 170)
    scene[150:] = (120, 90, 60)
    slot = _box(300, 800, 160, 240, 150, 250)
    objects = np.zeros((300, 800), bool)
    objects[:, 30:366] = True  # furniture the catalog does not know, either side of the slot
    near = place_beside(scene, PRODUCT, slot, [slot], objects=objects, max_covered=0.15, steps=1)
    assert near is not None and near.box[0] == 266  # nothing clear that near: the first place
    far = place_beside(scene, PRODUCT, slot, [slot], objects=objects, max_covered=0.15, steps=4)
    assert far is not None and far.box[3] == 240  # on the same base line, at the same size
    assert far.box[0] >= 366 and covered_share(objects, far.box) <= 0.15
    assert (far.box[2] - far.box[0], far.box[3] - far.box[1]) == (100, 80)
    with pytest.raises(InputError, match="steps"):
        place_beside(scene, PRODUCT, slot, [slot], steps=0)


def test_free_space_reads_its_steps_when_called(monkeypatch) -> None:
    from adstage.stage import freespace
    from adstage.stage.freespace import place_beside

    scene = np.empty((300, 800, 3), np.uint8)
    scene[:150] = (200, 190, 170)
    scene[150:] = (120, 90, 60)
    slot = _box(300, 800, 160, 240, 150, 250)
    taken = _box(300, 800, 150, 250, 256, 366) | _box(300, 800, 150, 250, 20, 145)
    assert place_beside(scene, PRODUCT, slot, [slot, taken]) is not None  # further out, right
    monkeypatch.setattr(freespace, "STEPS", 1)  # only the slot's neighbours: both taken
    assert place_beside(scene, PRODUCT, slot, [slot, taken]) is None


def test_with_free_space_clear_every_anchor_s_clear_places_come_first(monkeypatch) -> None:
    from adstage.stage import pipeline
    from adstage.stage.pipeline import StageOptions

    clear_in = {"c", "d"}  # the scenes with a place in clear floor
    calls: list[tuple[str, bool]] = []

    def beside(cut, match, store, opts, **kw):  # type: ignore[no-untyped-def]
        calls.append((match.item, kw["clear_only"]))
        if kw["clear_only"] and match.item not in clear_in:
            return None
        return types.SimpleNamespace(match=match)

    monkeypatch.setattr(pipeline, "stage_beside", beside)
    monkeypatch.setattr(pipeline, "_alike_in_shape", lambda cut, match: True)
    monkeypatch.setattr(pipeline, "_on_the_floor", lambda match, opts: True)
    monkeypatch.setattr(pipeline, "FREE_SPACE_POOL", 0)  # no further anchors looked for
    anchors = [(_anchor(item, 0.9 - i / 10), None) for i, item in enumerate("abcde")]
    opts = StageOptions(k=3)
    monkeypatch.setattr(pipeline, "FREE_SPACE_CLEAR", 0.15)
    got = pipeline._free_space_candidates(None, anchors, None, opts, "p")  # type: ignore[arg-type]
    assert [c.match.id for c in got] == ["c-0", "d-0", "a-0"]  # clear ones, then the likest other
    assert ("a", True) in calls and ("a", False) in calls
    calls.clear()
    monkeypatch.setattr(pipeline, "FREE_SPACE_CLEAR", None)
    got = pipeline._free_space_candidates(None, anchors, None, opts, "p")  # type: ignore[arg-type]
    assert [c.match.id for c in got] == ["a-0", "b-0", "c-0"]  # by likeness alone, one pass
    assert all(not only for _, only in calls)


def test_a_free_space_anchor_must_be_alike_in_shape() -> None:
    from adstage.stage.pipeline import _alike_in_shape
    from adstage.types import Cutout, Match

    image = np.full((100, 120, 3), 200, np.uint8)
    wide = Cutout.from_alpha(image, _box(100, 120, 40, 60, 10, 110).astype(np.float32))  # 5:1

    def slot(box: tuple[int, int, int, int]) -> Match:
        return Match(
            "a-0", "a", 0, "x.png", "", True, 0.0, 0.9, None, box, (0.0, 0.0), 0.1, (400, 300)
        )

    assert _alike_in_shape(wide, slot((0, 0, 200, 40)))  # also 5:1
    assert not _alike_in_shape(wide, slot((0, 0, 40, 100)))  # a tall chair: not an anchor


def test_stage_creates_its_segmenter_once_per_process(monkeypatch, tmp_path) -> None:
    pytest.importorskip("lancedb")
    from adstage.datasets.synthetic import SyntheticCatalog
    from adstage.segment.base import SEGMENTERS
    from adstage.stage import pipeline

    syn = SyntheticCatalog(12, seed=1, size=(128, 128))
    cat = ingest_synthetic(syn, tmp_path)
    created: list[str] = []
    real_create = SEGMENTERS.create

    def counting(name: str, **kwargs):
        created.append(name)
        return real_create(name, **kwargs)

    monkeypatch.setattr(SEGMENTERS, "create", counting)
    pipeline.shared_segmenter.cache_clear()
    plain = [item for item in (syn[i] for i in range(len(syn))) if not item.staged]
    for item in plain[4:6]:  # segmented (no mask given), twice
        pipeline.stage(item.image, cat, k=1, inpainter="telea", segmenter="solid-background")
    assert created == ["solid-background"]
    pipeline.shared_segmenter.cache_clear()


def test_candidates_in_preferred_slots_rank_first() -> None:
    """A candidate whose slot the screen preferred (little of the old object left to paint out)
    ranks before a higher-scoring one whose slot was only admitted."""
    from types import SimpleNamespace

    from adstage.stage.pipeline import Candidate, StageOptions, _staged

    def candidate(slot: str, score: float) -> Candidate:
        return Candidate(
            image=np.zeros((4, 4, 3), np.uint8), score=score, components={},
            match=SimpleNamespace(id=slot), placement=(0, 0, 1, 1), seconds={}, provenance={},
        )  # fmt: skip

    store = SimpleNamespace(path="catalog", embedders=["classical"])
    ranked = _staged(
        None, [candidate("admitted", 0.9), candidate("preferred", 0.5)], [], {}, "given",
        store, StageOptions(), {"preferred": ["preferred"]},
    )  # fmt: skip
    assert [c.match.id for c in ranked.candidates] == ["preferred", "admitted"]
    by_score = _staged(
        None, [candidate("a", 0.5), candidate("b", 0.9)], [], {}, "given", store,
        StageOptions(), {"preferred": []},
    )  # fmt: skip
    assert [c.match.id for c in by_score.candidates] == ["b", "a"]


def test_with_free_space_clear_a_clear_place_ranks_before_a_likelier_one_over_furniture(
    monkeypatch,
) -> None:  # type: ignore[no-untyped-def]
    from types import SimpleNamespace

    from adstage.stage import pipeline
    from adstage.stage.pipeline import Candidate, StageOptions, _staged

    def candidate(slot: str, score: float, clear: bool | None) -> Candidate:
        return Candidate(
            image=np.zeros((4, 4, 3), np.uint8), score=score, components={},
            match=SimpleNamespace(id=slot), placement=(0, 0, 1, 1), seconds={},
            provenance={"mode": "free-space", "clear_floor": clear},
        )  # fmt: skip

    store = SimpleNamespace(path="catalog", embedders=["classical"])

    def ranked(over: bool | None = False) -> list[str]:
        found = [candidate("over", 0.9, over), candidate("clear", 0.5, True)]
        staged = _staged(None, found, [], {}, "given", store, StageOptions(), {})  # type: ignore[arg-type]
        return [c.match.id for c in staged.candidates]

    assert ranked() == ["over", "clear"]  # off: by score
    monkeypatch.setattr(pipeline, "FREE_SPACE_CLEAR", 0.15)
    assert ranked() == ["clear", "over"]
    assert ranked(over=True) == ["over", "clear"]  # both clear: by score
    assert ranked(over=None) == ["over", "clear"]  # no map there: nothing known, by score
    monkeypatch.setattr(pipeline, "FREE_SPACE_CLEAR", 1.5)
    with pytest.raises(InputError, match="FREE_SPACE_CLEAR"):
        pipeline._free_space_candidates(None, [], None, StageOptions(), "p")  # type: ignore[arg-type]


def test_free_space_may_stand_behind_a_nearer_object_partly_hidden() -> None:
    from adstage.stage.freespace import nearer_than, place_beside

    scene = _room()
    slot = _box(300, 400, 160, 240, 150, 250)  # the anchor, base line at row 240
    # A low object nearer the camera (base at row 290) right of the anchor, covering the lower
    # part of where the product would stand.
    sofa = _box(300, 400, 215, 290, 240, 395)
    assert place_beside(scene, PRODUCT, slot, [slot, sofa], in_front=None) is not None
    right = place_beside(scene, PRODUCT, slot, [slot, sofa], in_front=0.03)
    assert right is not None and right.box[0] >= 250  # behind the sofa, beside the anchor
    hidden = nearer_than([slot, sofa], right.box[3] + 0.03 * 300)
    x0, y0, x1, y1 = right.box
    assert hidden[y0:y1, x0:x1].mean() == pytest.approx(25 / 80)  # its lowest 25 rows
    assert not nearer_than([slot], 241).any()  # the anchor itself is level, not in front
    # Hidden more than max_occluded: no place on that side.
    tall = _box(300, 400, 170, 290, 240, 395)
    left = place_beside(scene, PRODUCT, slot, [slot, tall], in_front=0.03)
    assert left is not None and left.box[2] <= 150
    # Without the option, a nearer object is taken like any other: left again.
    taken = place_beside(scene, PRODUCT, slot, [slot, sofa])
    assert taken is not None and taken.box[2] <= 150


def test_object_maps_take_every_tile_and_are_kept_on_disk(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from adstage.stage.objects import cached_object_map, object_map, tile_boxes
    from adstage.types import Segmentation

    boxes = tile_boxes(400, 300)
    assert boxes[0] == (0, 0, 400, 300) and len(boxes) == 13
    assert all(0 <= x0 < x1 <= 400 and 0 <= y0 < y1 <= 300 for x0, y0, x1, y1 in boxes)
    with pytest.raises(InputError):
        tile_boxes(1, 300)

    calls = []

    class Centre:  # "salient": the middle ninth of whatever it is shown
        name = "centre"

        def __call__(self, image: np.ndarray) -> Segmentation:
            calls.append(image.shape)
            h, w = image.shape[:2]
            alpha = np.zeros((h, w), np.float32)
            alpha[h // 3 : 2 * h // 3, w // 3 : 2 * w // 3] = 1.0
            return Segmentation(alpha=alpha, backend=self.name)

    scene = _room()
    found = object_map(scene, Centre())
    assert len(calls) == 13 and found[150, 200]  # the whole photo's centre
    assert found[60:90, 30:60].any()  # a tile's centre the whole photo's run did not mark
    cached = cached_object_map(scene, Centre(), tmp_path, "room.jpg")
    assert np.array_equal(cached, found) and len(list(tmp_path.glob("*.png"))) == 1
    calls.clear()
    assert np.array_equal(cached_object_map(scene, Centre(), tmp_path, "room.jpg"), found)
    assert calls == []  # read back, not computed again


def test_local_objects_segment_only_the_crop_around_a_place(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from adstage.stage.objects import LocalObjects, local_crop
    from adstage.types import Segmentation

    assert local_crop((100, 100, 200, 200), 400, 300, snap=1) == (50, 50, 250, 225)
    assert local_crop((100, 100, 200, 200), 400, 300) == (32, 32, 256, 256)  # snapped outward
    assert local_crop((102, 98, 203, 199), 400, 300) == (32, 32, 256, 256)  # a near box: the same
    assert local_crop((-40, 100, 60, 200), 400, 300, snap=1) == (0, 50, 110, 225)  # clipped
    with pytest.raises(InputError, match="empty box"):
        local_crop((10, 10, 10, 20), 400, 300)
    with pytest.raises(InputError, match="not seen"):
        local_crop((500, 10, 600, 20), 400, 300)
    with pytest.raises(InputError, match="snap"):
        local_crop((10, 10, 20, 20), 400, 300, snap=0)

    shown = []

    class Red:  # "salient": the red pixels of whatever it is shown
        def __init__(self, name: str) -> None:
            self.name = name

        def __call__(self, image: np.ndarray) -> Segmentation:
            shown.append((self.name, image.shape[:2]))
            red = (image[..., 0] > 200) & (image[..., 1] < 50)
            return Segmentation(alpha=red.astype(np.float32), backend=self.name)

    scene = _room()
    scene[120:240, 250:330] = (230, 20, 20)  # an armchair no map knows
    local = LocalObjects(scene, [Red("a"), Red("b")])
    assert local.backends == ["a", "b"]
    over = local((240, 160, 340, 240))
    assert over == pytest.approx(80 * 80 / (100 * 80))  # the box over the armchair
    assert shown == [("a", (192, 240)), ("b", (192, 240))]  # each network, the crop only
    assert local((240, 160, 340, 240)) == over and local.runs == 2  # kept by crop
    assert local((20, 160, 120, 240)) == 0.0 and local.runs == 4  # clear floor and wall
    # On disk: another LocalObjects of the same scene reads the crop back, with no run.
    kept = LocalObjects(scene, [Red("a")], tmp_path, "room.jpg")
    assert kept((240, 160, 340, 240)) == over and kept.runs == 1
    assert len(list(tmp_path.glob("*.png"))) == 1
    again = LocalObjects(scene, [Red("a")], tmp_path, "room.jpg")
    assert again((238, 161, 338, 240)) == pytest.approx(over, abs=0.05) and again.runs == 0
    assert LocalObjects(scene, [Red("b")], tmp_path, "room.jpg")((240, 160, 340, 240)) == over
    assert len(list(tmp_path.glob("*.png"))) == 2  # another backend: another file
    small = Red("a")
    small.variant = "u2netp"  # type: ignore[attr-defined]
    assert LocalObjects(scene, [small], tmp_path, "room.jpg")((240, 160, 340, 240)) == over
    assert len(list(tmp_path.glob("*.png"))) == 3  # another variant of the same name too
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    unkept = LocalObjects(scene, [Red("a")], blocked / "maps", "room.jpg")
    assert unkept((240, 160, 340, 240)) == over and unkept.runs == 1  # measured, not kept
    for path in tmp_path.glob("*.png"):  # every kept crop spoiled: an error, not a silent rerun
        path.write_bytes(cv2.imencode(".png", np.zeros((5, 5), np.uint8))[1])
    with pytest.raises(InputError, match="crop map"):
        LocalObjects(scene, [Red("a")], tmp_path, "room.jpg")((240, 160, 340, 240))
    with pytest.raises(InputError, match="no segmenter"):
        LocalObjects(scene, [])
    with pytest.raises(InputError, match="RGB"):
        LocalObjects(scene[..., 0], [Red("a")])
    with pytest.raises(InputError, match="key"):
        LocalObjects(scene, [Red("a")], tmp_path)


def test_free_space_asks_a_covered_function_only_of_places_that_pass_all_else() -> None:
    from adstage.stage.freespace import place_beside

    scene = _room()
    slot = _box(300, 400, 160, 240, 150, 250)
    first = place_beside(scene, PRODUCT, slot, [slot])
    assert first is not None
    asked = []

    def covered(box: tuple[int, int, int, int]) -> float:  # furniture right of the slot
        asked.append(box)
        return 1.0 if box[0] >= 250 else 0.0

    clear = place_beside(scene, PRODUCT, slot, [slot], covered=covered, max_covered=0.15)
    assert clear is not None and clear.box[2] <= 150 and asked[0] == first.box
    assert (
        place_beside(scene, PRODUCT, slot, [slot], covered=lambda box: 1.0, max_covered=0.15)
        == first
    )
    assert (
        place_beside(
            scene, PRODUCT, slot, [slot], covered=lambda box: 1.0, max_covered=0.15, clear_only=True
        )
        is None
    )
    with pytest.raises(InputError, match="not both"):
        place_beside(
            scene, PRODUCT, slot, [slot], objects=np.zeros((300, 400), bool), covered=covered
        )


def test_free_space_takes_every_object_of_the_scene_s_object_map(monkeypatch, tmp_path) -> None:
    pytest.importorskip("lancedb")
    from adstage.stage import pipeline
    from adstage.stage.pipeline import stage
    from adstage.types import Segmentation

    cat, item = _plain_item(tmp_path, 4)
    monkeypatch.setattr(pipeline, "_salient", lambda uri, scene: np.zeros(scene.shape[:2], bool))

    class Even:  # a "saliency" that marks all or nothing of what it is shown
        name = "even"

        def __init__(self, value: float) -> None:
            self.value = value

        def __call__(self, image: np.ndarray) -> Segmentation:
            return Segmentation(np.full(image.shape[:2], self.value, np.float32), self.name)

    maps = tmp_path / "maps"
    monkeypatch.setattr(pipeline, "FREE_SPACE_OBJECTS", str(maps))
    monkeypatch.setattr(pipeline, "shared_segmenter", lambda name: Even(0.0))
    clear = stage(item.image, cat, mask=item.mask, k=3, inpainter="telea", shadow=0.0)
    assert clear.candidates
    assert all(c.provenance["occupied"].endswith("object map") for c in clear.candidates)
    assert list(maps.glob("*.png"))  # kept for the next product
    for path in maps.glob("*.png"):
        path.unlink()
    monkeypatch.setattr(pipeline, "shared_segmenter", lambda name: Even(1.0))
    with pytest.raises(AdstageError, match="no retrieved slot"):  # every floor pixel taken
        stage(item.image, cat, mask=item.mask, k=3, inpainter="telea")


def test_free_space_clear_local_segments_around_each_place_and_keeps_the_crops(
    monkeypatch, tmp_path, caplog
) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("lancedb")
    from adstage.errors import WeightsNotFound
    from adstage.stage import pipeline
    from adstage.stage.pipeline import stage
    from adstage.types import Segmentation

    cat, item = _plain_item(tmp_path, 4)
    monkeypatch.setattr(pipeline, "_salient", lambda uri, scene: np.zeros(scene.shape[:2], bool))
    shown = []

    class Even:  # a "saliency" that marks all or nothing of what it is shown
        name = "even"

        def __init__(self, value: float) -> None:
            self.value = value

        def __call__(self, image: np.ndarray) -> Segmentation:
            shown.append(image.shape[:2])
            return Segmentation(np.full(image.shape[:2], self.value, np.float32), self.name)

    monkeypatch.setattr(pipeline, "FREE_SPACE_CLEAR", 0.15)
    monkeypatch.setattr(pipeline, "FREE_SPACE_CLEAR_LOCAL", ("even",))
    monkeypatch.setattr(pipeline, "_local_segmenter", lambda name: Even(1.0))
    crowded = stage(item.image, cat, mask=item.mask, k=3, inpainter="telea", shadow=0.0)
    free = [c for c in crowded.candidates if c.provenance["mode"] == "free-space"]
    assert free and shown  # nothing is refused: the places over "furniture" are taken last
    for c in free:
        assert "even around each place" in c.provenance["occupied"]
        assert c.provenance["objects_covered"] == 1.0 and c.provenance["clear_floor"] is False
        h, w = c.image.shape[:2]
        assert all(sh[0] < h or sh[1] < w for sh in shown)  # crops, never the whole scene
    kept = list((tmp_path / "cat" / "local-objects").glob("*.png"))
    assert kept  # the crops are kept in the catalog's folder for the next product
    runs = len(shown)
    again = stage(item.image, cat, mask=item.mask, k=3, inpainter="telea", shadow=0.0)
    assert len(shown) == runs  # read back, not segmented again
    assert [c.image.tobytes() for c in again.candidates] == [
        c.image.tobytes() for c in crowded.candidates
    ]

    class Missing:  # as U²-Net and IS-Net: built at once, weights looked for on the first run
        name = "missing"

        def __call__(self, image: np.ndarray) -> Segmentation:
            raise WeightsNotFound("no u2net weights")

    monkeypatch.setattr(pipeline, "_local_segmenter", lambda name: Missing())
    with caplog.at_level("WARNING"):
        plain = stage(item.image, cat, mask=item.mask, k=3, inpainter="telea", shadow=0.0)
    assert "no local object maps" in caplog.text
    free = [c for c in plain.candidates if c.provenance["mode"] == "free-space"]
    assert free  # nothing preferred, nothing lost
    assert all(c.provenance.get("clear_floor") is None for c in free)
    assert all("no local object maps" in c.provenance["occupied"] for c in free)


def test_free_space_clear_local_moves_a_product_off_what_the_crop_shows(
    monkeypatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("lancedb")
    from adstage.stage import pipeline
    from adstage.stage.pipeline import stage

    cat, item = _plain_item(tmp_path, 4)
    monkeypatch.setattr(pipeline, "_salient", lambda uri, scene: np.zeros(scene.shape[:2], bool))
    before = stage(item.image, cat, mask=item.mask, k=1, inpainter="telea", shadow=0.0)
    first = before.candidates[0]
    assert first.provenance["mode"] == "free-space"
    asked: list[tuple[int, int, int, int]] = []

    class Crowded:  # "furniture" behind the first place free space looks at, nowhere else
        def __init__(self, scene, segmenters, cache, key) -> None:  # type: ignore[no-untyped-def]
            self.backends, self.runs = ["crowded"], 0

        def __call__(self, box: tuple[int, int, int, int]) -> float:
            asked.append(tuple(box))
            return 1.0 if tuple(box) == asked[0] else 0.0

    monkeypatch.setattr(pipeline, "FREE_SPACE_CLEAR", 0.15)
    monkeypatch.setattr(pipeline, "FREE_SPACE_CLEAR_LOCAL", ("crowded",))
    monkeypatch.setattr(pipeline, "_local_segmenter", lambda name: None)
    monkeypatch.setattr(pipeline, "LocalObjects", Crowded)
    after = stage(item.image, cat, mask=item.mask, k=1, inpainter="telea", shadow=0.0)
    moved = after.candidates[0]
    assert len(set(asked)) >= 2  # the first place was passed over for another
    assert moved.provenance["mode"] == "free-space" and moved.provenance["clear_floor"] is True
    assert moved.provenance["objects_covered"] == 0.0
    assert (moved.match.item, moved.placement) != (first.match.item, first.placement)


def test_replace_first_against_wall_ranks_preferred_replacements_before_free_space(
    monkeypatch, tmp_path
) -> None:
    pytest.importorskip("lancedb")
    from adstage.stage import pipeline
    from adstage.stage.pipeline import StageOptions, _replace_first, stage

    # Only with the option, and only for a kind that stands against a wall.
    assert not _replace_first(StageOptions(kind="bookcase"))
    monkeypatch.setattr(pipeline, "REPLACE_FIRST_AGAINST_WALL", True)
    assert _replace_first(StageOptions(kind="bookcase"))
    assert not _replace_first(StageOptions(kind="chair"))
    assert not _replace_first(StageOptions())

    cat, item = _plain_item(tmp_path, 7)
    monkeypatch.setattr(pipeline, "FREE_SPACE_POOL", 0)
    monkeypatch.setattr(pipeline, "REPLACE_FIRST_AGAINST_WALL", False)
    usual = stage(item.image, cat, mask=item.mask, k=3, inpainter="telea", shadow=0.0)
    assert usual.candidates[0].provenance["mode"] == "free-space"
    monkeypatch.setattr(pipeline, "_replace_first", lambda opts: True)  # the kind aside
    first = stage(item.image, cat, mask=item.mask, k=3, inpainter="telea", shadow=0.0)
    modes = [c.provenance["mode"] for c in first.candidates]
    preferred = set(first.provenance["screen"]["preferred"])
    assert preferred and modes[0] == "replace" and first.candidates[0].match.id in preferred
    liked = [
        c.provenance["mode"] == "replace" and c.match.id in preferred for c in first.candidates
    ]
    assert liked == sorted(liked, reverse=True)  # every preferred replacement first
    assert len(modes) == 3  # k in all, the free space found beside them or not
    assert set(modes[sum(liked) :]) <= {"free-space"}  # then free space, as by default


def _television(scene: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> None:
    """A switched-off set drawn into ``scene`` (RGB): a black bezel round a smooth, dark screen
    whose reflection brightens it from left to right."""
    scene[y0:y1, x0:x1] = 8
    ramp = np.linspace(30, 110, x1 - x0 - 12, dtype=np.float32)
    scene[y0 + 6 : y1 - 6, x0 + 6 : x1 - 6] = ramp[None, :, None].astype(np.uint8)


def test_screens_finds_a_television_not_a_framed_picture() -> None:
    from adstage.stage.freespace import screens

    scene = np.full((600, 800, 3), (205, 200, 190), np.uint8)
    _television(scene, 300, 200, 500, 315)  # 200×115: 16:9
    rng = np.random.default_rng(0)
    scene[60:160, 80:240] = 8  # a black frame round a painting (texture inside)
    scene[66:154, 86:234] = rng.integers(0, 120, (88, 148, 3), dtype=np.uint8)
    found = screens(scene)
    assert len(found) == 1
    x0, y0, x1, y1 = found[0]
    assert abs(x0 - 300) <= 4 and abs(y0 - 200) <= 4 and abs(x1 - 500) <= 4 and abs(y1 - 315) <= 4
    assert screens(np.full((600, 800, 3), 200, np.uint8)) == []
    low = np.full((600, 800, 3), (205, 200, 190), np.uint8)
    _television(low, 300, 500, 500, 600)  # in the photo's bottom fifth: a floor mat, not a set
    assert screens(low) == []


def test_free_space_keeps_a_screen_clear() -> None:
    from adstage.stage.freespace import place_beside

    scene = _room()
    slot = _box(300, 400, 160, 240, 150, 250)
    right = place_beside(scene, PRODUCT, slot, [slot])
    assert right is not None and right.box[0] >= 250  # right of the slot, as before
    x0, y0, x1, _ = right.box
    screen = (x0 + 10, y0 - 20, x1 - 10, y0 + 30)  # a set the product would stand in front of
    cleared: list[tuple[int, int, int, int]] = []
    moved = place_beside(scene, PRODUCT, slot, [slot], keep_clear=[screen], cleared=cleared)
    assert moved is not None and moved.box[2] <= 150  # left of the slot instead
    assert cleared == [right.box]  # the place lost to the screen, said so
    aside = (x1 - 5, y0, x1 + 95, y0 + 40)  # covered by 5 of its 100 columns: 5 %, allowed
    cleared = []
    assert place_beside(scene, PRODUCT, slot, [slot], keep_clear=[aside], cleared=cleared) == right
    assert cleared == []
    # A screen above every place tried refuses nothing: the call without it gives the same.
    high = (0, 0, scene.shape[1], 20)
    cleared = []
    assert place_beside(scene, PRODUCT, slot, [slot], keep_clear=[high], cleared=cleared) == right
    assert cleared == []


def test_clear_screens_stands_in_front_of_one_only_when_there_is_no_other_free_space(
    monkeypatch, tmp_path
) -> None:
    pytest.importorskip("lancedb")
    from adstage.stage import freespace, pipeline
    from adstage.stage.pipeline import stage

    assert pipeline.FREE_SPACE_CLEAR_SCREENS  # on by default
    cat, item = _plain_item(tmp_path, 7)
    monkeypatch.setattr(pipeline, "FREE_SPACE_POOL", 0)
    monkeypatch.setattr(pipeline, "FREE_SPACE_CLEAR_SCREENS", False)

    def run():  # type: ignore[no-untyped-def]
        found = stage(item.image, cat, mask=item.mask, k=3, inpainter="telea", shadow=0.0)
        return [(c.provenance["mode"], c.match.id, c.placement) for c in found.candidates], found

    usual, _ = run()
    assert usual[0][0] == "free-space"
    monkeypatch.setattr(pipeline, "FREE_SPACE_CLEAR_SCREENS", True)
    monkeypatch.setattr(pipeline, "find_screens", lambda scene: [])  # no screen anywhere: as before
    assert run()[0] == usual
    # A screen over every scene: no free space keeps it clear, so the places in front of it are
    # taken, not replacements instead.
    everywhere = lambda scene: [(0, 0, scene.shape[1], scene.shape[0])]  # noqa: E731
    monkeypatch.setattr(pipeline, "find_screens", everywhere)
    monkeypatch.setattr(freespace, "MAX_CLEAR_COVERED", 0.0)  # any overlap covers it
    again, found = run()
    assert again == usual
    beside = [c for c in found.candidates if c.provenance["mode"] == "free-space"]
    assert beside and all(not c.provenance["screens"]["kept_clear"] for c in beside)
    assert all(c.provenance["screens"]["found"] for c in beside)  # found, stood in front of
    monkeypatch.setattr(freespace, "MAX_CLEAR_COVERED", 0.1)
    # A screen, in every scene, where the first candidate stood: it moves, clear of it.
    box = tuple(int(v) for v in usual[0][2])
    monkeypatch.setattr(pipeline, "find_screens", lambda scene: [box])
    moved, found = run()
    assert moved[0][0] == "free-space" and moved[0] != usual[0]
    assert found.candidates[0].provenance["screens"] == {"found": [list(box)], "kept_clear": True}
    assert not freespace._covers(moved[0][2], box)


def test_the_second_pass_tries_only_the_scenes_where_a_screen_refused_a_place(monkeypatch) -> None:
    from adstage.stage import pipeline
    from adstage.stage.pipeline import StageOptions, _stage_beside_any

    tried: list[tuple[str, bool]] = []

    def beside(
        cut, match, store, opts, *, clear_screens, screens, lost, edges_only=False, clear_only=False
    ):  # type: ignore[no-untyped-def]
        tried.append((match.item, clear_screens))
        screens[match.item] = [(0, 0, 9, 9)] if match.item in ("tv", "tv-aside") else []
        if clear_screens and match.item == "tv":  # the screen stood where the product would
            lost.add(match.item)
        return None if clear_screens or match.item != "tv" else match.item

    monkeypatch.setattr(pipeline, "stage_beside", beside)
    monkeypatch.setattr(pipeline, "_alike_in_shape", lambda cut, match: True)
    monkeypatch.setattr(pipeline, "_on_the_floor", lambda match, opts: True)
    anchors = [
        (_anchor(item, 0.9 - i / 10), None) for i, item in enumerate(["tv", "tv-aside", "plain"])
    ]
    found: dict[str, list[tuple[int, int, int, int]]] = {}
    lost: set[str] = set()
    first = _stage_beside_any(
        None,
        anchors,
        None,
        StageOptions(k=3),
        "p",
        clear=True,
        screens=found,  # type: ignore[arg-type]
        lost=lost,
    )
    assert first == [] and found == {"tv": [(0, 0, 9, 9)], "tv-aside": [(0, 0, 9, 9)], "plain": []}
    assert lost == {"tv"}  # "tv-aside" has a screen, but it refused no place
    second = _stage_beside_any(
        None,
        anchors,
        None,
        StageOptions(k=3),
        "p",
        clear=False,
        screens=found,
        only=set(lost),
    )
    assert second == ["tv"]
    # "plain" and "tv-aside" are not tried again
    assert tried == [("tv", True), ("tv-aside", True), ("plain", True), ("tv", False)]


def test_free_space_is_cut_by_the_frame_only_where_no_place_inside_it_is_left() -> None:
    from adstage.stage.freespace import place_beside

    scene = _room()
    slot = _box(300, 400, 160, 240, 60, 160)
    other = _box(300, 400, 150, 245, 170, 400)  # everything right of the slot is taken
    assert place_beside(scene, PRODUCT, slot, [slot, other]) is None  # left runs off the frame
    cut = place_beside(scene, PRODUCT, slot, [slot, other], off_frame=0.5)
    assert cut is not None
    x0, _, x1, _ = cut.box
    assert x0 < 0 < x1 <= 60 and -x0 <= 0.5 * (x1 - x0)  # left of the slot, cut by the edge
    assert place_beside(scene, PRODUCT, slot, [slot, other], off_frame=0.3) is None  # 48 % cut
    # Where a place inside the frame is left, the option changes nothing.
    inside = place_beside(scene, PRODUCT, slot, [slot])
    assert (
        inside is not None and place_beside(scene, PRODUCT, slot, [slot], off_frame=0.5) == inside
    )
    with pytest.raises(InputError, match="off_frame"):
        place_beside(scene, PRODUCT, slot, [slot], off_frame=1.0)


def test_crop_to_frame_keeps_the_seen_columns_at_the_same_scale() -> None:
    from adstage.stage.freespace import crop_to_frame
    from adstage.types import Cutout, Placement

    rgba = np.zeros((50, 100, 4), np.uint8)
    rgba[..., 0] = np.arange(100, dtype=np.uint8)[None, :]  # each column names itself
    rgba[..., 3] = 255
    cut = Cutout(rgba, np.ones((50, 100), bool), (10, 20, 110, 70), (60.0, 45.0), 0.1, (200, 100))
    placed = Placement(box=(-100, 50, 100, 150), scale=2.0, fit="footprint", scene_size=(300, 200))
    seen, where = crop_to_frame(cut, placed)
    assert where == Placement(
        box=(0, 50, 100, 150), scale=2.0, fit="footprint", scene_size=(300, 200)
    )
    assert seen.rgba.shape == (50, 50, 4) and seen.mask.shape == (50, 50)
    assert seen.rgba[0, 0, 0] == 50 and seen.rgba[0, -1, 0] == 99  # the right half
    assert seen.bbox == (60, 20, 110, 70)
    right = Placement(box=(250, 50, 350, 150), scale=1.0, fit="footprint", scene_size=(300, 200))
    seen, where = crop_to_frame(cut, right)
    assert where.box == (250, 50, 300, 150) and seen.rgba[0, -1, 0] == 49  # the left half
    inside = Placement(box=(10, 50, 110, 150), scale=1.0, fit="footprint", scene_size=(300, 200))
    assert crop_to_frame(cut, inside) == (cut, inside)
    with pytest.raises(InputError, match="not seen"):
        crop_to_frame(cut, Placement((300, 50, 400, 150), 1.0, "footprint", (300, 200)))


def test_a_free_space_product_cut_by_the_frame_is_staged_as_seen(tmp_path, monkeypatch) -> None:
    from adstage.stage import freespace, pipeline
    from adstage.stage.pipeline import stage

    cat, item = _plain_item(tmp_path, 7)
    monkeypatch.setattr(pipeline, "FREE_SPACE_POOL", 0)
    placed = freespace.place_beside

    def off_left(*args, **kwargs):  # type: ignore[no-untyped-def]
        found = placed(*args, **kwargs)
        if found is None:
            return None
        x0, y0, x1, y1 = found.box
        return replace(found, box=(-(x1 - x0) // 4, y0, (x1 - x0) - (x1 - x0) // 4, y1))

    monkeypatch.setattr(pipeline, "place_beside", off_left)
    found = stage(item.image, cat, mask=item.mask, k=3, inpainter="telea", shadow=0.0)
    beside = [c for c in found.candidates if c.provenance["mode"] == "free-space"]
    assert beside
    for c in beside:
        x0, _, x1, _ = c.placement
        assert x0 == 0 and x1 > 0  # clipped to the frame
        assert 0.2 < c.provenance["off_frame"] < 0.3


def test_edge_first_stands_the_product_at_the_frame_edge_before_the_open_floor() -> None:
    from adstage.stage.freespace import place_beside

    scene = _room()
    slot = _box(300, 400, 160, 240, 150, 250)
    inside = place_beside(scene, PRODUCT, slot, [slot], off_frame=0.25)
    assert inside is not None and inside.box[0] >= 0 and inside.box[2] <= 400
    edge = place_beside(scene, PRODUCT, slot, [slot], off_frame=0.25, edge_first=True)
    assert edge is not None
    x0, y0, x1, y1 = edge.box
    assert (x0 < 0 or x1 > 400) and max(-x0, x1 - 400) <= 0.25 * (x1 - x0)
    assert (y0, y1) == inside.box[1::2]  # the same base line, the same size
    # With the right side taken, the left edge, however far from the slot.
    right = _box(300, 400, 150, 245, 255, 400)
    left = place_beside(scene, PRODUCT, slot, [slot, right], off_frame=0.25, edge_first=True)
    assert left is not None and left.box[0] < 0
    # Without off_frame, edge_first changes nothing.
    assert place_beside(scene, PRODUCT, slot, [slot], edge_first=True) == inside


def test_edges_only_tries_no_place_inside_the_frame() -> None:
    from adstage.stage.freespace import place_beside

    scene = _room()
    slot = _box(300, 400, 160, 240, 150, 250)
    first = place_beside(scene, PRODUCT, slot, [slot], off_frame=0.25, edge_first=True)
    only = place_beside(scene, PRODUCT, slot, [slot], off_frame=0.25, edges_only=True)
    assert only == first and only is not None  # an edge place is free: the same one
    x0, _, x1, _ = only.box
    assert (x0 < 0 or x1 > 400) and max(-x0, x1 - 400) <= 0.25 * (x1 - x0)
    # Objects at both edges: nothing, though the open floor beside the slot is free.
    taken = [slot, _box(300, 400, 150, 245, 0, 20), _box(300, 400, 150, 245, 380, 400)]
    assert place_beside(scene, PRODUCT, slot, taken, off_frame=0.25) is not None
    assert place_beside(scene, PRODUCT, slot, taken, off_frame=0.25, edges_only=True) is None
    # Without off_frame there is no edge place.
    assert place_beside(scene, PRODUCT, slot, [slot], edges_only=True) is None


def test_a_part_is_refused_or_staged_as_close_ups(tmp_path) -> None:
    pytest.importorskip("lancedb")
    from adstage.stage import closeup
    from adstage.stage.pipeline import stage

    cat, item = _plain_item(tmp_path, 4)
    with pytest.raises(InputError, match="part or accessory"):
        stage(item.image, cat, mask=item.mask, k=3, inpainter="telea", kind="knob", closeup=False)
    found = stage(
        item.image, cat, mask=item.mask, k=3, inpainter="telea", kind="knob", keep_steps=True
    )
    assert len(found.candidates) == 3
    assert len({c.match.item for c in found.candidates}) == 3  # one per room
    assert [c.score for c in found.candidates] == sorted(
        (c.score for c in found.candidates), reverse=True
    )
    assert "part or accessory" in found.provenance["screen"]["closeup"]
    for c in found.candidates:
        assert c.provenance["mode"] == "close-up" and c.provenance["hole_pixels"] == 0
        h, w = c.image.shape[:2]
        x0, y0, x1, y1 = c.placement
        assert y1 == round(closeup.FOCUS * h) and abs((x0 + x1) / 2 - w / 2) <= 1
        assert y1 - y0 == round(closeup.HEIGHT * h) or x1 - x0 == round(closeup.MAX_WIDTH * w)
        # The background is the room's enlarged crop, not the room: it differs from the scene.
        assert c.steps["removed"].shape == c.steps["scene"].shape
        assert not np.array_equal(c.steps["removed"], c.steps["scene"])
        assert "part or accessory" in c.provenance["closeup"]["why"]
        # The crop keeps off the room's catalog objects: its floor no more taken than the middle's.
        occupied = np.zeros((h, w), bool)
        for slot in cat.item_slots(c.match.item):
            occupied |= cv2.resize(slot.mask().astype(np.uint8), (w, h)) > 0
        cx0, cy0, cx1, cy1 = c.provenance["crop"]
        third = (cy1 - cy0) // 3
        middle = (w - (cx1 - cx0)) // 2
        centred = occupied[cy1 - third : cy1, middle : middle + cx1 - cx0].mean()
        assert c.provenance["crop_occupied"] <= centred + 1e-6


def test_floor_ahead_refuses_an_edge_place_on_an_object_nearer_the_camera() -> None:
    from adstage.stage.freespace import place_beside

    scene = _room()
    slot = _box(300, 400, 160, 240, 150, 250)  # base row 240: the strip under it, rows 240-247
    # At both bottom corners a seat: floor-coloured where the product's base would stand, a
    # sheepskin of another colour just in front of that (rows 248 on).
    scene[248:, :90] = scene[248:, 310:] = (200, 200, 205)
    kwargs = {"off_frame": 0.25, "edges_only": True}
    assert place_beside(scene, PRODUCT, slot, [slot], **kwargs) is not None
    assert place_beside(scene, PRODUCT, slot, [slot], floor_ahead=True, **kwargs) is None
    # A place inside the frame is not checked: the same as without it.
    inside = place_beside(scene, PRODUCT, slot, [slot], off_frame=0.25)
    assert inside is not None and inside.box[0] >= 0 and inside.box[2] <= 400
    assert place_beside(scene, PRODUCT, slot, [slot], off_frame=0.25, floor_ahead=True) == inside
    # Floor in front at one corner: that edge is taken.
    scene[248:, 310:] = _room()[248:, 310:]
    right = place_beside(scene, PRODUCT, slot, [slot], floor_ahead=True, **kwargs)
    assert right is not None and right.box[2] > 400


def test_stage_tries_the_second_pass_only_where_a_screen_refused_a_place(
    tmp_path, monkeypatch
) -> None:
    from adstage.stage import pipeline
    from adstage.stage.pipeline import stage

    cat, item = _plain_item(tmp_path, 7)
    monkeypatch.setattr(pipeline, "FREE_SPACE_POOL", 0)
    monkeypatch.setattr(pipeline, "find_screens", lambda scene: [(0, 0, 4, 4)])  # a screen in each
    passes: list[bool] = []
    real = pipeline._stage_beside_any

    def spy(*args, **kw):  # type: ignore[no-untyped-def]
        passes.append(kw["clear"])
        return real(*args, **kw)

    monkeypatch.setattr(pipeline, "_stage_beside_any", spy)
    refuse = {"screen": False}

    def nowhere(*args, cleared=None, keep_clear=(), **kw):  # type: ignore[no-untyped-def]
        if refuse["screen"] and keep_clear and cleared is not None:
            cleared.append((0, 0, 4, 4))  # a place lost to the screen
        return None  # no free space: replacements only

    monkeypatch.setattr(pipeline, "place_beside", nowhere)
    stage(item.image, cat, mask=item.mask, k=3, inpainter="telea", shadow=0.0)
    assert passes == [True]  # screens found everywhere, but none refused a place: one pass
    passes.clear()
    refuse["screen"] = True
    stage(item.image, cat, mask=item.mask, k=3, inpainter="telea", shadow=0.0)
    assert passes == [True, False]  # a place lost to a screen: tried again in front of it


def test_crop_to_frame_refuses_an_empty_box() -> None:
    from adstage.stage.freespace import crop_to_frame
    from adstage.types import Cutout, Placement

    rgba = np.full((5, 5, 4), 255, np.uint8)
    cut = Cutout(rgba, np.ones((5, 5), bool), (0, 0, 5, 5), (2.0, 2.0), 0.1, (5, 5))
    with pytest.raises(InputError, match="empty"):
        crop_to_frame(cut, Placement((10, 10, 10, 20), 1.0, "footprint", (30, 30)))


def test_below_screen_keeps_the_furniture_under_a_television_clear(tmp_path, monkeypatch) -> None:
    from adstage.stage import pipeline
    from adstage.stage.freespace import below_screen
    from adstage.stage.pipeline import stage

    assert below_screen((10, 20, 50, 40), 100, 2.0) == (10, 20, 50, 80)
    assert below_screen((10, 20, 50, 40), 60, 2.0) == (10, 20, 50, 60)  # to the scene's bottom
    assert below_screen((10, 20, 50, 40), 100, 0.0) == (10, 20, 50, 40)
    with pytest.raises(InputError, match="below"):
        below_screen((10, 20, 50, 40), 100, -1.0)
    cat, item = _plain_item(tmp_path, 7)
    monkeypatch.setattr(pipeline, "FREE_SPACE_POOL", 0)

    def run():  # type: ignore[no-untyped-def]
        found = stage(item.image, cat, mask=item.mask, k=3, inpainter="telea", shadow=0.0)
        return found.candidates[0].placement

    first = run()
    x0, y0, x1, y1 = (int(v) for v in first)
    tv = (x0, max(0, y0 - (y1 - y0) // 2), x1, y0)  # a set just above the product: not covered
    monkeypatch.setattr(pipeline, "find_screens", lambda scene: [tv])
    assert run() == first
    monkeypatch.setattr(pipeline, "FREE_SPACE_BELOW_SCREENS", 2.0)  # its bench: covered
    moved = run()
    assert moved != first


def test_free_space_cast_shadow_follows_the_anchors(monkeypatch, tmp_path) -> None:
    pytest.importorskip("lancedb")
    from adstage.stage import pipeline
    from adstage.stage.pipeline import stage

    cat, item = _plain_item(tmp_path, 4)
    seen: list[tuple[float, float]] = []
    real = pipeline.composite

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append((kwargs["cast_opacity"], kwargs["under_opacity"]))
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "composite", spy)
    kwargs = {"mask": item.mask, "k": 3, "inpainter": "telea", "cast_shadow": 0.8}
    off = stage(item.image, cat, under_shadow=1.0, **kwargs)
    beside = [c for c in off.candidates if c.provenance["mode"] == "free-space"]
    assert beside and all(c.provenance["cast_factor"] == 1.0 for c in beside)
    assert all(c.provenance["anchor_shade"] is None for c in beside)  # off: not measured
    assert (0.8, 1.0) in seen
    monkeypatch.setattr(pipeline, "FREE_SPACE_CAST_FROM_ANCHOR", (0.1, 0.3))
    monkeypatch.setattr(pipeline, "FREE_SPACE_UNDER_FROM_ANCHOR", 0.5)
    for shade, factor in ((0.05, 0.0), (0.2, 0.5), (0.9, 1.0)):
        monkeypatch.setattr(pipeline, "floor_shade", lambda *a, s=shade, **k: s)
        seen.clear()
        on = stage(item.image, cat, under_shadow=1.0, **kwargs)
        moved = [c for c in on.candidates if c.provenance["mode"] == "free-space"]
        assert moved and all(c.provenance["cast_factor"] == factor for c in moved)
        assert all(c.provenance["anchor_shade"] == shade for c in moved)
        cast = pytest.approx(0.8 * factor)
        assert (cast, pytest.approx(1.0 - 0.5 * (1.0 - factor))) in seen


def test_a_box_of_known_height_is_sized_in_free_space(tmp_path) -> None:
    pytest.importorskip("lancedb")
    from adstage.stage.pipeline import stage

    cat, item = _plain_item(tmp_path, 4)
    kwargs = {"mask": item.mask, "k": 3, "inpainter": "telea", "kind": "storage box"}
    sized = stage(item.image, cat, height_cm=40.0, **kwargs)
    beside = [c for c in sized.candidates if c.provenance["mode"] == "free-space"]
    assert beside and all(c.provenance["height_range_px"] is not None for c in beside)
    assert sized.provenance["kind"]["size_checked"] is True
    unsized = stage(item.image, cat, **kwargs)
    beside = [c for c in unsized.candidates if c.provenance["mode"] == "free-space"]
    assert beside and all(c.provenance["height_range_px"] is None for c in beside)


def test_a_box_of_known_height_gets_the_scenes_horizon_too(monkeypatch) -> None:
    from adstage.stage import pipeline
    from adstage.stage.pipeline import StageOptions, scene_camera_for
    from adstage.stage.scale import Camera

    narrowed = Camera(horizon=(0.4, 0.45))
    monkeypatch.setattr(pipeline, "scene_camera", lambda uri, prior: narrowed)
    screen_on = Screen(horizon=True)
    for kind, height, estimated in (
        ("chair", None, True),
        ("storage box", 10.0, True),  # checked where it stands on the floor: the same camera
        ("storage box", None, False),  # no height: nothing to check, no estimate
        ("table lamp", None, False),
    ):
        opts = StageOptions(kind=kind, height_cm=height, screen=screen_on)
        got = scene_camera_for(opts, "scene.jpg")
        assert (got is narrowed) is estimated, kind


def test_the_anchors_own_outline_is_not_another_object() -> None:
    from adstage.stage.pipeline import _other_objects

    slot = _box(100, 200, 40, 80, 50, 90)
    salient = _box(100, 200, 36, 84, 46, 94) | _box(100, 200, 40, 80, 150, 180)  # itself, grown
    others = _other_objects([slot, salient], slot)
    assert not others[slot].any() and not others[36:84, 46:94].any()  # the ring stays free
    assert others[40:80, 150:180].all() and others.sum() == 40 * 30  # the other object stays


def test_scale_refusals_anchor_free_space_only_when_it_sizes_the_product(monkeypatch) -> None:
    from adstage.stage import pipeline
    from adstage.stage.pipeline import StageOptions, _scale_anchors

    box = StageOptions(kind="storage box", height_cm=10.0)
    assert _scale_anchors(box)  # on by default since session 32
    monkeypatch.setattr(pipeline, "FREE_SPACE_SCALE_ANCHORS", False)
    assert not _scale_anchors(box)
    monkeypatch.setattr(pipeline, "FREE_SPACE_SCALE_ANCHORS", True)
    assert _scale_anchors(box) and _scale_anchors(StageOptions(kind="chair"))
    assert not _scale_anchors(StageOptions(kind="storage box"))  # no height: the anchor's scale
    assert not _scale_anchors(StageOptions())  # no kind
    monkeypatch.setattr(pipeline, "FREE_SPACE_SIZE", None)  # sized by the anchor: not allowed
    assert not _scale_anchors(box)


def test_perspective_turns_a_free_space_product_to_its_anchor_s_edges(
    monkeypatch, tmp_path
) -> None:
    pytest.importorskip("lancedb")
    from adstage.stage import perspective, pipeline
    from adstage.stage.pipeline import stage

    cat, item = _plain_item(tmp_path, 4)
    plain = stage(item.image, cat, mask=item.mask, k=1, inpainter="telea")
    assert plain.candidates[0].provenance["perspective"] is None  # off by default
    monkeypatch.setattr(pipeline, "PERSPECTIVE", True)
    read = stage(item.image, cat, mask=item.mask, k=1, inpainter="telea")
    record = read.candidates[0].provenance["perspective"]
    assert isinstance(record, dict) and isinstance(record["turned"], bool)
    if not record["turned"]:
        assert record["why"]
        assert np.array_equal(read.candidates[0].image, plain.candidates[0].image)

    # The product read square-on, the anchor's edges meeting at a point to the right: turned.
    # (The product's front is read with no horizon rows, its crop being tight; the room's with.)
    def fronts(
        rgb: np.ndarray, region: np.ndarray | None = None, *, rows: object = "room"
    ) -> perspective.Vanishing:
        if rows is None:
            return perspective.Vanishing((1.0, 0.0, 0.0), 0.9, 5)
        return perspective.Vanishing((rgb.shape[1] * 3.0, rgb.shape[0] * 0.4, 1.0), 0.5, 5)

    monkeypatch.setattr(pipeline, "front_vanishing", fronts)
    turned = stage(item.image, cat, mask=item.mask, k=1, inpainter="telea")
    cand = turned.candidates[0]
    record = cand.provenance["perspective"]
    assert record["turned"] and record["sides"][0] > 1.0 > record["sides"][1]
    assert cand.match.id == plain.candidates[0].match.id
    assert not np.array_equal(cand.image, plain.candidates[0].image)
    # about its centre column: the near side reaches lower, by at most MAX_TURN of its height
    (x0, _, x1, y1), (p0, q0, p1, q1) = cand.placement, plain.candidates[0].placement
    assert abs((x0 + x1) / 2 - (p0 + p1) / 2) <= 0.1 * (p1 - p0)
    assert q1 <= y1 <= q1 + perspective.MAX_TURN * (q1 - q0) + 2
