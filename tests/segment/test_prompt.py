"""Products in the wild (adstage.segment.prompt): the cut-out check and the box prompt, alone and
inside staging."""

from __future__ import annotations

import numpy as np
import pytest

from adstage.errors import InputError
from adstage.segment.prompt import check_cutout, parse_box, segment_in_box
from adstage.types import Segmentation
from scenes import ingest_synthetic


def _mask(h: int = 200, w: int = 300) -> np.ndarray:
    return np.zeros((h, w), np.float32)


def test_a_lone_product_passes_and_each_give_away_is_named() -> None:
    lone = _mask()
    lone[50:150, 100:200] = 1.0
    assert check_cutout(lone).ok
    cut_by_one_edge = _mask()
    cut_by_one_edge[50:200, 100:200] = 1.0  # a sofa cut by the bottom of the photo: allowed
    assert check_cutout(cut_by_one_edge).ok

    on_a_person = lone.copy()
    on_a_person[120:200, 0:160] = 1.0  # an arm and a body running out at the left and bottom
    verdict = check_cutout(on_a_person)
    assert not verdict.ok and verdict.sides == 2 and "sides" in verdict.reasons[0]

    with_a_hand = lone.copy()
    with_a_hand[60:100, 230:280] = 1.0  # a second large piece
    verdict = check_cutout(with_a_hand)
    assert not verdict.ok and verdict.pieces == 2 and "pieces" in verdict.reasons[0]

    speck = lone.copy()
    speck[10:13, 10:13] = 1.0  # a few stray pixels are not a second piece
    assert check_cutout(speck).ok

    everything = np.ones((200, 300), np.float32)
    assert any("covers" in r for r in check_cutout(everything).reasons)
    assert check_cutout(_mask()).reasons == ["the mask is empty"]


class _Everything:
    """A 'segmenter' that calls every pixel product: only the box can make it useful."""

    def __call__(self, image: np.ndarray) -> Segmentation:
        return Segmentation(np.ones(image.shape[:2], np.float32), "everything")


def test_the_box_limits_the_segmenter_to_the_product() -> None:
    image = np.full((200, 300, 3), 128, np.uint8)
    alpha, seg = segment_in_box(image, (100, 50, 200, 150), _Everything())
    assert seg.backend == "everything" and alpha.shape == (200, 300)
    assert alpha[50:150, 100:200].all() and alpha.sum() == 100 * 100
    with pytest.raises(InputError, match="not inside"):
        segment_in_box(image, (250, 50, 320, 150), _Everything())
    assert parse_box("1, 2, 30, 40") == (1, 2, 30, 40)
    for bad in ("1,2,3", "a,b,c,d", "10,10,5,50", "1,2,³0,40", "-1,2,30,40"):
        with pytest.raises(InputError, match="box"):
            parse_box(bad)


def test_stage_refuses_a_cutout_with_a_person_and_stages_it_in_a_box(monkeypatch, tmp_path) -> None:
    pytest.importorskip("lancedb")
    from adstage.datasets.synthetic import SyntheticCatalog
    from adstage.stage import pipeline

    syn = SyntheticCatalog(12, seed=1, size=(128, 128))
    cat = ingest_synthetic(syn, tmp_path)
    item = [i for i in (syn[j] for j in range(len(syn))) if not i.staged][5]
    product = item.mask.astype(bool)
    ys, xs = np.nonzero(product)
    box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    person = product.copy()
    person[ys.max() - 5 :, : xs.min() + 5] = True  # someone holding it, out of the frame

    class Saliency:
        """Finds the product and the person, as a saliency model would on such a photo."""

        def __call__(self, image: np.ndarray) -> Segmentation:
            if image.shape[:2] == person.shape:
                return Segmentation(person.astype(np.float32), "saliency")
            return Segmentation(np.ones(image.shape[:2], np.float32), "saliency")  # in a box

    monkeypatch.setattr(pipeline, "shared_segmenter", lambda name: Saliency())
    with pytest.raises(InputError, match=r"does not look like one product.*give a box"):
        pipeline.stage(item.image, cat, k=1, inpainter="telea")
    staged = pipeline.stage(item.image, cat, k=1, inpainter="telea", box=box)
    assert staged.product.bbox == box  # the box's content only, not the person
    loose = pipeline.stage(item.image, cat, k=1, inpainter="telea", check_cutout=False)
    assert loose.product.bbox != box  # without the check, the person comes along
    with pytest.raises(InputError, match="mask or a box"):
        pipeline.stage(item.image, cat, mask=item.mask, box=box)
