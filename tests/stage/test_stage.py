"""Copy-paste staging end to end on the synthetic catalog: candidates, manifests, errors, resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("lancedb")

from typer.testing import CliRunner

from adstage.cli import app
from adstage.composite.camera import SIGMAS
from adstage.datasets.synthetic import SyntheticCatalog
from adstage.errors import AdstageError, InputError
from adstage.stage.pipeline import SCORE_WEIGHTS, Candidate, StageOptions, stage
from scenes import ingest_synthetic

SYN = SyntheticCatalog(30, seed=1, size=(256, 256))


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("stage")
    ingest_synthetic(SYN, root)
    return root


STAGEABLE = (2, 4, 5)
"""Plain items of SYN that the default screen (adstage.stage.screen) finds slots for; items 1 and
3 have no slot they would cover well here and are refused."""


def _plain(n: int):
    plain = [item for item in (SYN[i] for i in range(len(SYN))) if not item.staged]
    return [plain[i] for i in STAGEABLE[:n]]


def test_stage_returns_ranked_candidates_with_exact_product_pixels(catalog: Path) -> None:
    item = _plain(1)[0]
    # The paper's copy-paste: exact product pixels, no shadow.
    result = stage(
        item.image,
        catalog / "cat",
        mask=item.mask,
        k=3,
        segmenter="solid-background",
        product_exact=True,
        shadow=0.0,
    )
    assert 1 <= len(result.candidates) <= 3 and not result.errors
    scores = [c.score for c in result.candidates]
    assert scores == sorted(scores, reverse=True)
    best = result.candidates[0]
    assert best.match.staged and set(best.components) == set(SCORE_WEIGHTS)
    assert best.score == pytest.approx(
        sum(SCORE_WEIGHTS[k] * v for k, v in best.components.items())
    )
    x0, y0, x1, y1 = best.placement
    h, w = best.image.shape[:2]
    assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
    assert set(best.seconds) == {"load", "remove", "inpaint", "composite"}
    # Outside the generated hole and the pasted product, the scene is untouched.
    scene = best.steps["scene"]
    removed = best.steps["removed"]
    hole = np.all(removed == (255, 0, 255), axis=2) & ~np.all(scene == (255, 0, 255), axis=2)
    untouched = ~hole
    untouched[y0:y1, x0:x1] = False
    assert np.array_equal(best.image[untouched], scene[untouched])
    assert hole.sum() == best.provenance["hole_pixels"]
    # Inside the product's opaque core, the output is the pasted (despilled, scaled) cut-out.
    import cv2

    from adstage.composite.align import align
    from adstage.composite.blend import despill, scale_cutout
    from adstage.types import Cutout

    cut = Cutout.from_alpha(item.image, item.mask.astype(np.float32))
    placement = align(cut.mask, best.match.mask())
    assert placement.box == best.placement
    scaled = scale_cutout(despill(cut.rgba), placement)
    core = cv2.erode((scaled[..., 3] == 255).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    assert core.sum() > 100
    assert np.array_equal(best.image[y0:y1, x0:x1][core], scaled[..., :3][core])


def test_default_compositing_is_recorded_and_product_exact_keeps_pixels(catalog: Path) -> None:
    import cv2

    opts = StageOptions()
    assert (opts.despill, opts.edges, opts.light, opts.shadow) == (True, "refine", 0.75, 0.8)
    assert (opts.harmonize, opts.product_exact) == (0.0, False)
    item = _plain(1)[0]
    args = {"mask": item.mask, "k": 1, "segmenter": "solid-background"}
    default = stage(item.image, catalog / "cat", **args).candidates[0]
    exact = stage(item.image, catalog / "cat", product_exact=True, **args).candidates[0]
    plain = stage(item.image, catalog / "cat", product_exact=True, shadow=0.0, **args)
    flat = plain.candidates[0]
    comp = default.provenance["composite"]
    assert comp["edges"] == "refine" and comp["shadow"] == 0.8 and not comp["product_exact"]
    light = comp["light"]
    assert light["strength"] == 0.75 and 0.6 <= light["exposure"] <= 1.1
    assert light["gain"] == pytest.approx(
        [light["exposure"] * g for g in light["white_balance"]], abs=1e-3
    )
    assert set(comp["seconds"]) == {"edges", "light", "shadow"}
    # The shade under the body and the cast shadow are on by default and recorded; not without
    # a shadow, and turning them off changes the picture (only darker with them).
    assert (opts.cast_shadow, opts.under_shadow) == (0.8, 1.0)
    assert comp["under"] == 1.0 and comp["cast"]["opacity"] == 0.8 and comp["crease"] == 0.6
    assert plain.candidates[0].provenance["composite"]["cast"] is None
    assert plain.candidates[0].provenance["composite"]["under"] == 0.0
    assert plain.candidates[0].provenance["composite"]["crease"] == 0.0
    before = stage(
        item.image, catalog / "cat", cast_shadow=0.0, under_shadow=0.0, crease=0.0, **args
    )
    lighter = default.image.astype(int) - before.candidates[0].image.astype(int)
    assert lighter.max() <= 0 and lighter.min() < 0
    assert exact.provenance["composite"]["light"] is None
    assert exact.provenance["composite"]["edges"] == "unmix"
    # The product is shaded by default (its base darker); not when exact, nor at its base when
    # it hangs on a wall.
    assert comp["shade"]["strength"] == 1.0 and comp["shade"]["base"] > 0
    assert exact.provenance["composite"]["shade"] is None
    hung = stage(item.image, catalog / "cat", kind="mirror", **args).candidates[0]
    assert hung.provenance["composite"]["shade"]["base"] == 0.0
    # The shadow only darkens the floor: product pixels stay those of the un-shadowed paste.
    x0, y0, x1, y1 = exact.placement
    assert exact.placement == flat.placement == default.placement
    from adstage.composite.align import align
    from adstage.composite.blend import scale_cutout

    placement = align(plain.product.mask, flat.match.mask())
    alpha = scale_cutout(plain.product.rgba, placement)[..., 3]
    assert alpha.shape == (y1 - y0, x1 - x0)
    core = cv2.erode((alpha == 255).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    assert np.array_equal(exact.image[y0:y1, x0:x1][core], flat.image[y0:y1, x0:x1][core])
    darker = flat.image.astype(int) - exact.image.astype(int)
    assert darker.min() >= 0 and darker.sum() > 0
    assert not darker[: y0 + (y1 - y0) // 2].any()  # never above the product's middle
    with pytest.raises(InputError, match="edges"):
        StageOptions(edges="magic")
    with pytest.raises(InputError, match="light"):
        StageOptions(light=2.0)
    with pytest.raises(InputError, match="cast_shadow"):
        StageOptions(cast_shadow=1.5)
    with pytest.raises(InputError, match="product_exact"):
        StageOptions(product_exact=True, harmonize=0.5)
    with pytest.raises(InputError, match=r"lift.*product_exact"):
        StageOptions(product_exact=True, lift=0.5)
    assert StageOptions(product_exact=True).shade == 1.0  # on by default, turned off in staging


def test_camera_match_is_recorded_acts_only_around_the_product_and_reads_the_scene_file(
    catalog: Path, tmp_path: Path, monkeypatch
) -> None:
    from PIL import Image

    from adstage.stage import pipeline

    item = _plain(1)[0]
    args = {"mask": item.mask, "k": 1, "segmenter": "solid-background"}
    default = stage(item.image, catalog / "cat", **args).candidates[0]
    assert default.provenance["composite"]["camera"] is None
    monkeypatch.setattr(pipeline, "_jpeg_quality", lambda uri, size: 40)
    matched = stage(item.image, catalog / "cat", camera_match=True, **args).candidates[0]
    camera = matched.provenance["composite"]["camera"]
    assert camera["quality"] == 40 and camera["sigma"] in SIGMAS
    assert "camera" in matched.provenance["composite"]["seconds"]
    changed = (matched.image != default.image).any(axis=2)
    assert changed.any()
    x0, y0, x1, y1 = matched.placement
    near = np.zeros(changed.shape, bool)
    near[max(0, y0 - 48) : y1 + 48, max(0, x0 - 48) : x1 + 48] = True  # shadow, blocks
    assert not (changed & ~near).any()
    exact = stage(item.image, catalog / "cat", camera_match=True, product_exact=True, **args)
    assert exact.candidates[0].provenance["composite"]["camera"] is None
    monkeypatch.undo()
    # The quality is the scene file's, when the scene is that file at its own size.
    rng = np.random.default_rng(0)
    path = tmp_path / "room.jpg"
    Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(path, quality=60)
    assert pipeline._jpeg_quality(str(path), (64, 48)) == 60
    assert pipeline._jpeg_quality(str(path), (32, 24)) is None  # resized: its blocks shrank
    turned = tmp_path / "turned.jpg"
    exif = Image.Exif()
    exif[0x0112] = 3  # stored upside down: turned on reading, and its blocks with it
    Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(
        turned, quality=60, exif=exif
    )
    assert pipeline._jpeg_quality(str(turned), (64, 48)) is None
    assert pipeline._jpeg_quality(str(tmp_path / "gone.jpg"), (64, 48)) is None


def test_a_refiner_gets_the_composite_its_background_the_product_and_the_hole(
    catalog: Path,
) -> None:
    """StageOptions.refine (adstage.generate.refine.StagingRefiner's hook) is called once per
    candidate with what it needs to find the region it re-draws, and its picture is the
    candidate's, recorded."""
    from adstage.composite.align import align
    from adstage.composite.blend import scale_cutout
    from adstage.types import Cutout

    item = _plain(1)[0]
    args = {"mask": item.mask, "k": 1, "segmenter": "solid-background"}
    plain = stage(item.image, catalog / "cat", **args).candidates[0]
    calls = []

    def refine(composite, background, product, hole, protect):
        assert protect is None  # a replacement has nothing standing in front of it
        calls.append((composite.copy(), background.copy(), product.copy(), hole))
        out = composite.copy()
        out[product] = 0  # a mark the test can find
        return out, {"backend": "stub", "pixels_changed": int(product.sum())}

    result = stage(item.image, catalog / "cat", refine=refine, **args)
    refined = result.candidates[0]
    assert result.provenance["refine"] == {"callable": refine.__qualname__}
    assert "refine" not in result.provenance["options"]
    json.dumps(result.provenance)  # the record stays JSON, the refiner object out of it
    assert len(calls) == 1
    composite, background, product, hole = calls[0]
    assert np.array_equal(composite, plain.image)  # the refiner sees the default composite
    assert np.array_equal(background, plain.steps["filled"])  # pasted on the fill
    removed = plain.steps["removed"]
    assert hole is not None and hole.shape == product.shape
    # the hole is all the inpainter filled: the shown hole and the old slot under the product
    assert int(hole.sum()) == plain.provenance["filled_pixels"]
    assert hole[np.all(removed == (255, 0, 255), axis=2)].all()
    cut = Cutout.from_alpha(item.image, item.mask.astype(np.float32))
    placement = align(cut.mask, refined.match.mask())
    x0, y0, x1, y1 = placement.box
    expected = np.zeros_like(product)
    expected[y0:y1, x0:x1] = scale_cutout(cut.rgba, placement)[..., 3] >= 128
    assert np.array_equal(product, expected) and product.any()
    assert (refined.image[product] == 0).all() and not (plain.image[product] == 0).all()
    comp = refined.provenance["composite"]
    assert comp["refine"] == {"backend": "stub", "pixels_changed": int(product.sum())}
    assert "refine" in comp["seconds"] and plain.provenance["composite"]["refine"] is None
    # with the camera matched, it is matched after the refiner, on the refined picture: the
    # marked (black) product is blurred like the scene at its edge
    matched = stage(item.image, catalog / "cat", refine=refine, camera_match=True, **args)
    comp = matched.candidates[0].provenance["composite"]
    assert comp["camera"] is not None and {"refine", "camera"} <= set(comp["seconds"])
    inside = matched.candidates[0].image[product]
    assert (inside == 0).all(axis=1).mean() > 0.5 and not (inside == 0).all()


def test_formats_and_errors(catalog: Path) -> None:
    item = _plain(2)[1]
    result = stage(item.image, catalog / "cat", mask=item.mask, k=1, ad_format="9:16")
    h, w = result.candidates[0].image.shape[:2]
    assert w / h == pytest.approx(9 / 16, rel=0.02)
    with pytest.raises(InputError, match="no product"):
        stage(np.full((64, 64, 3), 255, np.uint8), catalog / "cat", mask=np.zeros((64, 64)))
    with pytest.raises(AdstageError, match="no staged slots"):
        stage(item.image, catalog / "cat", mask=item.mask, where="category = 'nothing'")
    with pytest.raises(InputError, match="k:"):
        StageOptions(k=0)
    with pytest.raises(AdstageError, match="unknown inpainter"):
        StageOptions(inpainter="nope")


def test_staging_from_a_missing_catalog_names_it_and_creates_nothing(tmp_path: Path) -> None:
    item = _plain(1)[0]
    missing = tmp_path / "no-such-catalog"
    with pytest.raises(
        InputError, match=r"no adstage catalog at .*no-such-catalog.*adstage ingest"
    ):
        stage(item.image, missing, mask=item.mask, k=1)
    assert not missing.exists()


def test_cli_stage_writes_outputs_reports_failures_and_resumes(
    catalog: Path, tmp_path: Path
) -> None:
    from adstage.io.images import write_image

    products = tmp_path / "products"
    products.mkdir()
    for item in _plain(2):
        write_image(products / f"{item.id}.png", item.image)
    (products / "broken.jpg").write_bytes(b"not an image")
    write_image(products / "blank.png", np.full((64, 64, 3), 255, np.uint8))
    out = tmp_path / "out"
    args = ["stage", str(products), "-c", str(catalog / "cat"), "-o", str(out), "-k", "2", "--json"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 1, first.stderr  # two bad products, reported; the rest staged
    records = [json.loads(line) for line in first.stdout.splitlines()]  # one per product
    failed = [r for r in records if "error" in r]
    assert len(records) == 4 and len(failed) == 2
    reasons = {Path(f["path"]).name: f["error"] for f in failed}
    assert "not an image" in reasons["broken.jpg"] and "no product" in reasons["blank.png"]
    for item in _plain(2):
        manifest = json.loads((out / item.id / "manifest.json").read_text())
        assert len(manifest["candidates"]) == 2
        cand = manifest["candidates"][0]
        assert {"path", "score", "catalog_id", "slot", "placement", "seconds"} <= set(cand)
        assert (out / item.id / cand["path"]).exists() and (out / item.id / "index.html").exists()
    assert "input.png" in (out / "index.html").read_text()
    again = CliRunner().invoke(app, args)
    again_records = [json.loads(line) for line in again.stdout.splitlines()]
    assert sum(bool(r.get("skipped")) for r in again_records) == 2  # the failed ones are retried


def test_top_level_api(catalog: Path) -> None:
    import adstage

    item = _plain(1)[0]
    result = adstage.stage_product(item.image, catalog / "cat", k=1, mask=item.mask)
    assert len(result.candidates) == 1 and result.provenance["segmenter"] == "given"
    options = adstage.StageOptions(k=3, inpainter="ns")
    result = adstage.stage_product(
        item.image, catalog / "cat", k=1, mask=item.mask, options=options
    )
    assert len(result.candidates) == 1
    matches = adstage.retrieve_slots(item.image, catalog / "cat", k=2, mask=item.mask)
    assert len(matches) == 2 and isinstance(matches[0], adstage.Match)
    with pytest.deprecated_call(match="stage_product"):
        assert len(adstage.stage(item.image, catalog / "cat", k=1, mask=item.mask).candidates) == 1
    with pytest.deprecated_call(match="retrieve_slots"):
        assert len(adstage.retrieve(item.image, catalog / "cat", k=2, mask=item.mask)) == 2


def test_the_fill_never_sees_the_old_object_through_an_open_product(tmp_path: Path) -> None:
    """A product with an opening (a frame) replaces a red box on a grey wall: the opening shows
    the wall the fill continues, not the red of the old object under the product (Ku et al.
    §5.3; the ghosts through open shelving the judges of issue 13 named)."""
    import dataclasses

    import cv2

    from adstage.io.images import write_image
    from adstage.stage.pipeline import stage_candidate
    from adstage.types import Cutout, Match

    scene = np.full((200, 300, 3), 150, np.uint8)
    scene[60:180, 100:200] = (220, 30, 30)  # the old object: a red box on a grey wall
    write_image(tmp_path / "scene.png", scene)
    slot = np.zeros((200, 300), np.uint8)
    slot[60:180, 100:200] = 255
    ok, png = cv2.imencode(".png", slot)
    assert ok
    match = Match(
        id="s-0", item="s", slot=0, uri=str(tmp_path / "scene.png"), category="box", staged=True,
        score=1.0, similarity=1.0, coverage=None, bbox=(100, 60, 200, 180),
        center_of_mass=(150.0, 120.0), area_fraction=0.2, size=(300, 200), mask_png=png.tobytes(),
    )  # fmt: skip
    product = np.full((120, 100, 3), 255, np.uint8)
    product[:] = (40, 40, 160)
    alpha = np.ones((120, 100), np.float32)
    alpha[20:100, 20:80] = 0.0  # the opening: 60×80 of white studio background
    cut = Cutout.from_alpha(product, alpha)
    options = StageOptions(inpainter="telea", shadow=0.0, light=0.0, edges="unmix")
    cand = stage_candidate(cut, match, options)
    x0, y0, x1, y1 = cand.placement
    assert (x1 - x0, y1 - y0) == (100, 120)
    opening = cand.image[y0 + 30 : y0 + 90, x0 + 30 : x0 + 70].astype(np.int16)
    # grey wall (150, 150, 150), not the old object's red
    assert np.abs(opening - 150).max() < 12, opening.reshape(-1, 3).mean(axis=0)
    assert cand.provenance["filled_pixels"] > cand.provenance["hole_pixels"]
    # fill="gap" (before): the old object under the product is context, and shows through
    gap = stage_candidate(cut, match, dataclasses.replace(options, fill="gap"))
    shown = gap.image[y0 + 30 : y0 + 90, x0 + 30 : x0 + 70].astype(np.int16)
    assert shown[..., 0].mean() > 200 and shown[..., 1].mean() < 80  # red
    with pytest.raises(InputError, match="fill"):
        StageOptions(fill="everything")


def test_a_replacement_takes_the_old_object_s_perspective(tmp_path: Path, monkeypatch) -> None:
    """The old object's edges meet at a point to the right (a chest seen at an angle); the
    product, photographed square-on, is turned to meet there too (stage.perspective)."""
    import cv2

    from adstage.io.images import write_image
    from adstage.stage import pipeline
    from adstage.stage.pipeline import stage_candidate
    from adstage.types import Cutout, Match

    scene = np.full((240, 400, 3), 150, np.uint8)
    vp = (1100.0, 40.0)
    top, bottom = 70, 190
    x0, x1 = 120, 260
    at = lambda y, x: round(y + (vp[1] - y) * (x - x0) / (vp[0] - x0))  # noqa: E731
    pts = np.array([(x0, top), (x1, at(top, x1)), (x1, at(bottom, x1)), (x0, bottom)], np.int32)
    cv2.fillPoly(scene, [pts], (200, 190, 170))
    for y in (top, 100, 130, 160, bottom):  # drawer lines towards the point
        cv2.line(scene, (x0, y), (x1, at(y, x1)), (60, 50, 40), 2, cv2.LINE_AA)
    write_image(tmp_path / "scene.png", scene)
    slot = np.zeros((240, 400), np.uint8)
    cv2.fillPoly(slot, [pts], 255)
    ok, png = cv2.imencode(".png", slot)
    assert ok
    match = Match(
        id="s-0", item="s", slot=0, uri=str(tmp_path / "scene.png"), category="chest",
        staged=True, score=1.0, similarity=1.0, coverage=None, bbox=(x0, top, x1, bottom),
        center_of_mass=(190.0, 130.0), area_fraction=0.15, size=(400, 240),
        mask_png=png.tobytes(),
    )  # fmt: skip
    product = np.full((120, 140, 3), 210, np.uint8)
    for y in (2, 30, 60, 90, 117):  # square-on: its drawer lines flat
        cv2.line(product, (2, y), (137, y), (60, 50, 40), 2)
    cut = Cutout.from_alpha(product, np.ones((120, 140), np.float32))
    options = StageOptions(inpainter="telea", shadow=0.0, light=0.0, edges="unmix")
    plain = stage_candidate(cut, match, options)
    assert plain.provenance["perspective"] is None  # off by default
    monkeypatch.setattr(pipeline, "PERSPECTIVE", True)
    turned = stage_candidate(cut, match, options)
    record = turned.provenance["perspective"]
    assert record["turned"], record
    assert record["own"][2] == 0.0  # the product's front: at infinity
    assert record["room"][0] == pytest.approx(vp[0], rel=0.25)
    left, right = record["sides"]
    assert left > 1.0 > right  # the side away from the point is the nearer, taller one
    assert not np.array_equal(turned.image, plain.image)


def test_cli_stage_kind_refuses_parts_says_when_unknown_and_records_it(
    catalog: Path, tmp_path: Path
) -> None:
    from adstage.io.images import write_image

    products = tmp_path / "products"
    products.mkdir()
    item = _plain(1)[0]
    write_image(products / f"{item.id}.png", item.image)
    base = ["stage", str(products), "-c", str(catalog / "cat"), "-k", "1", "--json"]
    part = CliRunner().invoke(
        app, [*base, "-o", str(tmp_path / "a"), "--kind", "door knob", "--no-closeup"]
    )
    assert part.exit_code == 1 and "part or accessory" in part.stdout
    closer = CliRunner().invoke(app, [*base, "-o", str(tmp_path / "k"), "--kind", "door knob"])
    assert closer.exit_code == 0, closer.stderr  # by default: close-ups
    manifest = json.loads((tmp_path / "k" / item.id / "manifest.json").read_text())
    modes = [c["provenance"]["mode"] for c in manifest["candidates"]]
    assert modes and all(mode == "close-up" for mode in modes)
    unknown = CliRunner().invoke(app, [*base, "-o", str(tmp_path / "b"), "--kind", "xyzzy"])
    assert "names no known kind" in unknown.stderr
    checked = CliRunner().invoke(app, [*base, "-o", str(tmp_path / "c"), "--kind", "side table"])
    assert checked.exit_code == 0, checked.stderr
    manifest = json.loads((tmp_path / "c" / item.id / "manifest.json").read_text())
    kind = manifest["provenance"]["kind"]
    assert kind["read_as"]["name"] == "side table" and kind["size_checked"] is True
    own = [*base, "-o", str(tmp_path / "d"), "--kind", "side table", "--height-cm", "45"]
    assert CliRunner().invoke(app, own).exit_code in (0, 1)  # staged, or refused by its size
    manifest = json.loads((tmp_path / "d" / item.id / "manifest.json").read_text())
    assert manifest["provenance"]["kind"]["read_as"]["high_cm"] == 45
    bad = CliRunner().invoke(app, [*base, "-o", str(tmp_path / "e"), "--height-cm", "45"])
    assert bad.exit_code == 2 and "needs a kind" in bad.stderr


def _feet(candidate: Candidate) -> int:
    """How many separate runs of the red product's pixels its box's lowest 3 rows hold."""
    x0, _, x1, y1 = candidate.placement
    image = candidate.image
    red = (image[..., 0] > 120) & (image[..., 1] < 90) & (image[..., 2] < 90)
    bottom = red[y1 - 3 : y1, x0:x1].any(axis=0).astype(int)
    return int((np.diff(np.concatenate([[0], bottom, [0]])) == 1).sum())


def test_a_part_photographed_in_two_pieces_stands_both_on_the_close_up_s_floor(
    catalog: Path, monkeypatch
) -> None:
    from adstage.stage import closeup

    # a handle photographed twice on white: one view above the other, as parts' photos show them
    photo = np.full((240, 200, 3), 255, np.uint8)
    photo[20:70, 40:160] = (180, 40, 40)
    photo[140:220, 80:120] = (180, 40, 40)
    mask = np.zeros((240, 200), bool)
    mask[20:70, 40:160] = mask[140:220, 80:120] = True
    exact = {"product_exact": True}  # its pixels as photographed: found by colour
    laid = stage(photo, catalog / "cat", mask=mask, kind="handle", k=1, **exact).candidates[0]
    assert laid.provenance["mode"] == "close-up"
    record = laid.provenance["closeup"]["pieces"]
    assert record["lay"] and record["found"] == 2 and record["laid"], record
    assert _feet(laid) == 2  # both pieces end on the focus row, a gap between them
    monkeypatch.setattr(closeup, "LAY_PIECES", False)
    as_shot = stage(photo, catalog / "cat", mask=mask, kind="handle", k=1, **exact).candidates[0]
    record = as_shot.provenance["closeup"]["pieces"]
    assert record["lay"] is False and record["laid"] is False and record["why"] == "off"
    assert _feet(as_shot) == 1  # the upper view hangs above the floor
