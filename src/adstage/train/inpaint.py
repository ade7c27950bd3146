"""Train EdgeConnect (Nazeri et al. 2019) with the weighted boundary loss (Ku et al. 2023, §5.3.1).

    adstage train inpaint --data ../shared/data/ikea-room-scenes --size 256 --steps 20000 --out run/

Read top to bottom:

1. **Photos.** Every photo in ``--data`` (folders; a ``metadata.csv``/``labels.csv`` with
   ``path[,mask_path]`` is read by :func:`adstage.train.loop.photo_sources`, as for pix2pix) is
   loaded once, its shorter side reduced to ``2·size`` at most. Product masks (the CSV's
   ``mask_path`` and any ``--masks`` folder) are kept as hole shapes. A file is held out by the
   hash of its name (:func:`adstage.train.loop.held_out`); held-out photos only feed the sample
   grids.
2. **Batches.** Per sample: a random square crop (side uniform between ``size`` — or the
   shorter side when smaller — and the shorter side), resized to ``size``² (area), flipped at
   random; a hole that is product-shaped with probability ``p_object`` when product masks exist
   (:func:`adstage.inpaint.masks.object_mask`), else free-form
   (:func:`adstage.inpaint.masks.free_form_mask`, Yu et al. 2019); Canny edges of the crop
   (:func:`adstage.inpaint.edgeconnect.canny_edges`). All randomness comes from one seeded numpy
   generator, stored in the checkpoints.
3. **Loop: both stages every step (joint training).** The paper trains ``G1``, then ``G2`` on
   ground-truth edges, then fine-tunes ``G2`` on ``G1``'s edges; here both are trained from step
   0, ``G2`` is guided by the ground-truth edges for the first ``gt_edge_steps`` steps and by
   ``G1``'s (detached) edges afterwards, which covers the paper's three phases in one run (a step
   count, not a share of ``steps``, so that resuming with more steps keeps the schedule).

   * ``D1`` (edges) and ``D2`` (image): non-saturating GAN loss (BCE on logits, EdgeConnect's
     ``nsgan``), ``½[ℓ(D(real), 1) + ℓ(D(fake), 0)]``.
   * ``G1``: ``adv_edge · ℓ(D1(fake), 1) + fm · FM`` (λ = 1, 10 as in the paper) plus, with
     ``wbl``, ``wbl_weight · L_WBL`` (Ku et al.: ``W_map · L1(E_GT, E_pred)``, λ_boundary = 0.9 in
     a band of ``band`` px on each side of the hole boundary, λ_non-boundary = 0.1, normalised
     by Σ W; see :mod:`adstage.inpaint.losses`). ``--no-wbl`` is the paper's EdgeConnect (no
     edge L1 term).
   * ``G2``: ``l1 · L1 / mean(mask) + adv_image · adv + perceptual · P + style · S`` (λ = 1, 0.1,
     0.1, 250 as in the paper's code); ``wbl_image`` replaces the L1 by the weighted L1 (then
     not divided by the mask mean). Perceptual and style losses use Inception-V3 features, not
     VGG-19 (no VGG weights offline; see :mod:`adstage.models.features`).
   * Adam, lr 1·10⁻⁴ for the generators and 0.1× for the discriminators, β = (0, 0.9).
4. **Checkpoints** every ``every`` steps and at the end: ``OUT/checkpoint-<step>.pt`` (the four
   networks, the four optimisers, step, seconds, RNG states, the full config), written
   atomically, the last ``keep`` kept; ``resume=True`` continues from the latest. A sample grid
   (masked input | edges | output | target; held-out photos first, fixed holes) goes to
   ``OUT/samples/step-<step>.png``. Progress is logged every ``log_every`` steps.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray

from adstage._torch import torch_threads
from adstage.errors import InputError
from adstage.inpaint.edgeconnect import CANNY, canny_edges
from adstage.inpaint.losses import (
    WBL_BOUNDARY,
    WBL_OTHER,
    adversarial_loss,
    feature_matching_loss,
    perceptual_loss,
    style_loss,
    wbl_weight_map,
    weighted_l1,
)
from adstage.inpaint.masks import FreeFormBounds, free_form_mask, object_mask
from adstage.io.images import iter_image_paths, read_image, read_mask
from adstage.models.edgeconnect import (
    Discriminator,
    EdgeGenerator,
    InpaintGenerator,
    check_width,
    read_checkpoint,
    run,
    to_grey,
)
from adstage.models.features import FeatureNet, feature_net
from adstage.train.loop import (
    Stateful,
    TrainResult,
    center_square,
    check_settings,
    held_out,
    photo_sources,
    resume_state,
    run_loop,
    split,
)
from adstage.types import RGB

log = logging.getLogger(__name__)

ARCHITECTURE = ("width", "blocks")
"""Config keys that must match when resuming (they shape the networks)."""


@dataclass(frozen=True)
class InpaintConfig:
    """Everything a run needs; stored in every checkpoint (see the module doc for the losses)."""

    data: tuple[str, ...]
    out: str
    masks: tuple[str, ...] = ()
    size: int = 256
    steps: int = 1000
    batch_size: int = 4
    width: float = 1.0
    blocks: int = 8
    lr: float = 1e-4
    d2g_lr: float = 0.1
    beta1: float = 0.0
    beta2: float = 0.9
    wbl: bool = True
    wbl_image: bool = False
    band: int = 5
    wbl_boundary: float = WBL_BOUNDARY
    wbl_other: float = WBL_OTHER
    wbl_weight: float = 1.0
    adv_edge: float = 1.0
    fm: float = 10.0
    l1: float = 1.0
    adv_image: float = 0.1
    perceptual: float = 0.1
    style: float = 250.0
    gt_edge_steps: int = 500
    p_object: float = 0.5
    canny_sigma: float = CANNY["sigma"]
    canny_low: float = CANNY["low"]
    canny_high: float = CANNY["high"]
    features: str = "inception"
    every: int = 500
    log_every: int = 10
    holdout: float = 0.1
    seed: int = 0
    device: str = "cpu"
    threads: int | None = None
    keep: int = 2

    def __post_init__(self) -> None:
        if not self.data:
            raise InputError("data: expected at least one folder of photos, got none")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 16:
            raise InputError(f"size: expected an integer >= 16, got {self.size!r}")
        if self.size % 4:
            raise InputError(f"size: expected a multiple of 4, got {self.size}")
        check_settings(self, ("steps", "batch_size", "blocks", "every", "log_every", "keep"))
        check_width(self.width)
        if isinstance(self.band, bool) or not isinstance(self.band, int) or self.band < 0:
            raise InputError(f"band: expected an integer >= 0 (pixels), got {self.band!r}")
        if isinstance(self.gt_edge_steps, bool) or not isinstance(self.gt_edge_steps, int):
            raise InputError(f"gt_edge_steps: expected an integer, got {self.gt_edge_steps!r}")
        for name in ("holdout", "p_object"):
            value = getattr(self, name)
            if not 0.0 <= value <= (0.99 if name == "holdout" else 1.0):
                raise InputError(f"{name}: expected a share in [0, 1], got {value!r}")
        if self.features not in ("inception", "tiny"):
            raise InputError(f"features: expected 'inception' or 'tiny', got {self.features!r}")


@dataclass(frozen=True)
class Photos:
    """``images``: ``uint8`` RGB photos (shorter side <= 2·size); ``held``: bool per photo;
    ``shapes``: product masks (bool) usable as holes."""

    images: list[RGB]
    held: np.ndarray
    paths: list[str]
    shapes: list[np.ndarray]


@dataclass(frozen=True)
class InpaintResult(TrainResult):
    """:class:`~adstage.train.loop.TrainResult` and the number of product masks used as holes."""

    n_shapes: int


# --------------------------------------------------------------------------------------------
# 1–2. photos and batches


def _shrink(image: np.ndarray, side: int, interpolation: int) -> np.ndarray:
    h, w = image.shape[:2]
    f = side / min(h, w)
    if f >= 1:
        return image
    return cv2.resize(
        image, (max(1, round(w * f)), max(1, round(h * f))), interpolation=interpolation
    )


def load_photos(config: InpaintConfig) -> Photos:
    """Read every photo once (shorter side <= ``2·size``) and the product masks."""
    sources = [s for folder in config.data for s in photo_sources(Path(folder))]
    if not sources:
        raise InputError(f"data: no images found in {', '.join(config.data)}")
    images, held, paths, shapes = [], [], [], []
    for path, mask_file in sources:
        image = read_image(path)
        images.append(np.ascontiguousarray(_shrink(image, 2 * config.size, cv2.INTER_AREA)))
        held.append(held_out(path.name, config.holdout))
        paths.append(str(path))
        if mask_file is not None:
            shapes.append(read_mask(mask_file) >= 0.5)
    for folder in config.masks:
        if not Path(folder).exists():
            raise InputError(f"masks: {folder} does not exist")
        shapes += [read_mask(p) >= 0.5 for p in iter_image_paths(Path(folder), recursive=True)]
    shapes = [
        _shrink(s.astype(np.uint8), 2 * config.size, cv2.INTER_NEAREST) > 0
        for s in shapes
        if s.any()
    ]
    return Photos(images, np.array(held), paths, shapes)


def random_crop(image: RGB, size: int, rng: np.random.Generator) -> RGB:
    """A random square crop (side between ``size`` and the shorter side), resized to ``size``²,
    flipped left-right with probability ½."""
    h, w = image.shape[:2]
    short = min(h, w)
    side = int(rng.integers(min(size, short), short + 1))
    y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    crop = image[y : y + side, x : x + side]
    if side != size:
        interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
        crop = np.asarray(cv2.resize(crop, (size, size), interpolation=interp), np.uint8)
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return np.ascontiguousarray(crop)


def random_hole(
    config: InpaintConfig, shapes: list[np.ndarray], rng: np.random.Generator
) -> np.ndarray:
    """A product-shaped hole (probability ``p_object``, when shapes exist) or a free-form one."""
    if shapes and rng.random() < config.p_object:
        return object_mask(shapes[int(rng.integers(len(shapes)))], config.size, rng)
    return free_form_mask(config.size, rng, FreeFormBounds())


def make_batch(
    config: InpaintConfig,
    images: list[RGB],
    holes: list[np.ndarray],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Tensors ``image`` ``N×3×S×S`` in [0, 1], ``edges`` ``N×1×S×S``, ``mask`` ``N×1×S×S``."""
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float().div(255.0)
    edges = [
        canny_edges(im, sigma=config.canny_sigma, low=config.canny_low, high=config.canny_high)
        for im in images
    ]
    e = torch.from_numpy(np.stack(edges))[:, None]
    m = torch.from_numpy(np.stack(holes).astype(np.float32))[:, None]
    dev = config.device
    return x.to(dev), e.to(dev), m.to(dev)


def sample_inputs(config: InpaintConfig, photos: Photos) -> tuple[list[RGB], list[np.ndarray]]:
    """The fixed sample-grid inputs: up to 4 photos (held-out first), centre crops, holes from a
    generator seeded with ``seed + 1`` (the same at every step and after a reload)."""
    order = np.concatenate([np.flatnonzero(photos.held), np.flatnonzero(~photos.held)])[:4]
    rng = np.random.default_rng(config.seed + 1)
    images = []
    for i in order:
        crop = center_square(photos.images[i])
        images.append(np.asarray(cv2.resize(crop, (config.size, config.size)), np.uint8))
    holes = [random_hole(config, photos.shapes, rng) for _ in images]
    return images, holes


def sample_grid(
    edge_gen: EdgeGenerator,
    inpaint_gen: InpaintGenerator,
    config: InpaintConfig,
    images: list[RGB],
    holes: list[np.ndarray],
) -> RGB:
    """Rows of masked input (hole white) | edges (known + predicted) | output | target."""
    x, e, m = make_batch(config, images, holes)
    modes = edge_gen.training, inpaint_gen.training
    edge_gen.eval()
    inpaint_gen.eval()
    with torch.inference_mode():
        out = run(edge_gen, inpaint_gen, x, e, m)
    edge_gen.train(modes[0])
    inpaint_gen.train(modes[1])

    def rgb(t: torch.Tensor) -> np.ndarray:
        a = t.clamp(0, 1).mul(255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
        return np.repeat(a, 3, axis=3) if a.shape[3] == 1 else a

    masked = rgb(x * (1 - m) + m)
    edges = 255 - rgb(out.edges_merged)  # black edges on white
    merged = rgb(out.merged)
    return np.vstack(
        [np.hstack([masked[i], edges[i], merged[i], images[i]]) for i in range(len(images))]
    )


# --------------------------------------------------------------------------------------------
# 3–4. loop and checkpoints


def train(
    config: InpaintConfig,
    *,
    resume: bool = False,
    features: FeatureNet | None = None,
    on_log: Callable[[dict[str, Any]], None] | None = None,
) -> InpaintResult:
    """Train (or with ``resume`` continue) EdgeConnect until ``config.steps``; see the module doc.

    ``features``: the perceptual/style feature network; ``None`` builds ``config.features``
    (``"inception"``: Inception-V3 from the weights manager; ``"tiny"``: a random conv net).
    ``config.threads`` sets torch's CPU threads for the run (restored afterwards).
    """
    with torch_threads(config.threads):
        return _train(config, resume=resume, features=features, on_log=on_log)


def _train(
    config: InpaintConfig,
    *,
    resume: bool,
    features: FeatureNet | None,
    on_log: Callable[[dict[str, Any]], None] | None,
) -> InpaintResult:
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    device = config.device
    state = resume_state(
        config, resume=resume, read=read_checkpoint, architecture=ARCHITECTURE, log=log
    )

    # 1. photos
    photos = load_photos(config)
    data = split(out, photos.paths, photos.held, "photos")
    log.info(
        "photos: %d train, %d held out, %d product masks as hole shapes",
        data.train.size,
        len(data.held),
        len(photos.shapes),
    )
    grid_inputs = sample_inputs(config, photos)

    # networks, optimisers, RNGs
    torch.manual_seed(config.seed)
    edge_gen = EdgeGenerator(width=config.width, blocks=config.blocks).to(device)
    inpaint_gen = InpaintGenerator(width=config.width, blocks=config.blocks).to(device)
    edge_dis = Discriminator(2, width=config.width).to(device)
    image_dis = Discriminator(3, width=config.width).to(device)
    if features is None:
        features = feature_net(config.features, device=device)
    betas = (config.beta1, config.beta2)
    d_lr = config.lr * config.d2g_lr
    opts = {
        "opt_g1": torch.optim.Adam(edge_gen.parameters(), lr=config.lr, betas=betas),
        "opt_g2": torch.optim.Adam(inpaint_gen.parameters(), lr=config.lr, betas=betas),
        "opt_d1": torch.optim.Adam(edge_dis.parameters(), lr=d_lr, betas=betas),
        "opt_d2": torch.optim.Adam(image_dis.parameters(), lr=d_lr, betas=betas),
    }
    nets = {
        "edge_gen": edge_gen,
        "inpaint_gen": inpaint_gen,
        "edge_dis": edge_dis,
        "image_dis": image_dis,
    }
    rng = np.random.default_rng(config.seed)
    parts: dict[str, Stateful] = {**nets, **opts}

    # 3. one step on the photos ``idx`` (drawn by the loop with ``rng``)
    def one_step(step: int, idx: NDArray[np.intp]) -> dict[str, torch.Tensor]:
        images = [random_crop(photos.images[i], config.size, rng) for i in idx]
        holes = [random_hole(config, photos.shapes, rng) for _ in idx]
        x, e, m = make_batch(config, images, holes)
        keep = 1 - m
        grey = to_grey(x)

        # stage 1, edges: G1 sees the masked grey image, masked edges and the mask
        pred_edges = edge_gen(grey * keep + m, e * keep, m)
        opts["opt_d1"].zero_grad(set_to_none=True)
        real_logits, _ = edge_dis(torch.cat([grey, e], 1))
        fake_logits, _ = edge_dis(torch.cat([grey, pred_edges.detach()], 1))
        loss_d1 = 0.5 * (adversarial_loss(real_logits, True) + adversarial_loss(fake_logits, False))
        loss_d1.backward()  # type: ignore[no-untyped-call]
        opts["opt_d1"].step()

        opts["opt_g1"].zero_grad(set_to_none=True)
        with torch.no_grad():
            _, real_feats = edge_dis(torch.cat([grey, e], 1))
        fake_logits, fake_feats = edge_dis(torch.cat([grey, pred_edges], 1))
        g1_adv = adversarial_loss(fake_logits, True)
        g1_fm = feature_matching_loss(fake_feats, real_feats)
        loss_g1 = config.adv_edge * g1_adv + config.fm * g1_fm
        weights = wbl_weight_map(m, config.band, config.wbl_boundary, config.wbl_other)
        edge_wbl = weighted_l1(pred_edges, e, weights)  # logged in both modes
        if config.wbl:
            loss_g1 = loss_g1 + config.wbl_weight * edge_wbl
        loss_g1.backward()  # type: ignore[no-untyped-call]
        opts["opt_g1"].step()

        # stage 2, image: G2 sees the masked image and the edges (ground truth, then G1's)
        guide = e if step < config.gt_edge_steps else pred_edges.detach()
        fake = inpaint_gen(x * keep + m, e * keep + guide * m)
        opts["opt_d2"].zero_grad(set_to_none=True)
        real_logits, _ = image_dis(x)
        fake_logits, _ = image_dis(fake.detach())
        loss_d2 = 0.5 * (adversarial_loss(real_logits, True) + adversarial_loss(fake_logits, False))
        loss_d2.backward()  # type: ignore[no-untyped-call]
        opts["opt_d2"].step()

        opts["opt_g2"].zero_grad(set_to_none=True)
        fake_logits, _ = image_dis(fake)
        g2_adv = adversarial_loss(fake_logits, True)
        if config.wbl_image:
            g2_l1 = weighted_l1(fake, x, weights)
        else:
            g2_l1 = F.l1_loss(fake, x) / m.mean().clamp_min(1e-3)
        with torch.no_grad():
            real_f = features(x)
        fake_f = features(fake)
        g2_perc = perceptual_loss(fake_f, real_f)
        g2_style = style_loss(features(fake * m), [f.detach() for f in features(x * m)])
        loss_g2 = (
            config.l1 * g2_l1
            + config.adv_image * g2_adv
            + config.perceptual * g2_perc
            + config.style * g2_style
        )
        loss_g2.backward()  # type: ignore[no-untyped-call]
        opts["opt_g2"].step()

        return {
            "d1": loss_d1,
            "g1_adv": g1_adv,
            "g1_fm": g1_fm,
            "edge_wbl": edge_wbl,
            "d2": loss_d2,
            "g2_adv": g2_adv,
            "g2_l1": g2_l1,
            "g2_perceptual": g2_perc,
            "g2_style": g2_style,
        }

    # 3–4. the loop, checkpoints and samples
    result = run_loop(
        config,
        data,
        parts,
        rng,
        state,
        step=one_step,
        samples=lambda: sample_grid(edge_gen, inpaint_gen, config, *grid_inputs),
        log=log,
        on_log=on_log,
    )
    return InpaintResult(**asdict(result), n_shapes=len(photos.shapes))
