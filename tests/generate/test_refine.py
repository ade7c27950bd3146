"""Generative refinement of a staged picture (adstage.generate.refine) on tiny random SD-shaped
models and on oracle U-Nets: what is kept stays bit for bit, the DDIM partial schedule and the
latent blend recover a picture an exact noise predictor sees, the inpainting U-Net gets its
inputs in diffusers' layout, and every bad input is one clear error."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from adstage.errors import InputError  # noqa: E402
from adstage.generate.base import PixelSpace  # noqa: E402
from adstage.generate.refine import (  # noqa: E402
    Refiner,
    RefineRegion,
    feather,
    load_refiner,
    staging_region,
)
from adstage.generate.sampling import inference_scheduler  # noqa: E402
from tiny_sd import UNET, write_sd_folder  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _sd_folder(root: Path, in_channels: int, cross: int = 32) -> Path:
    config = UNET | {"in_channels": in_channels, "cross_attention_dim": cross}
    return write_sd_folder(root / f"sd-{in_channels}-{cross}", config)


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("refine")
    return {"sd": _sd_folder(root, 4), "inpainting": _sd_folder(root, 9)}


def _picture(w: int = 96, h: int = 80) -> tuple[np.ndarray, np.ndarray]:
    """A gradient room with a dark product square; (picture, product mask)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w]
    image = np.dstack([xx * 2, yy * 3, 120 + 0 * xx]).astype(np.float32)
    image += rng.normal(0, 4, image.shape)
    product = (xx >= 36) & (xx < 60) & (yy >= 30) & (yy < 62)
    image[product] = (40, 30, 20)
    return np.clip(image, 0, 255).astype(np.uint8), product


# --- the region ---------------------------------------------------------------------------------


def test_the_region_is_a_ring_outside_the_product_and_what_staging_changed() -> None:
    _, product = _picture()
    changed = np.zeros_like(product)
    changed[62:70, 30:66] = True  # a drawn shadow below the product
    changed[5:10, 5:10] = True  # a filled hole elsewhere
    region = staging_region(product, changed)
    assert region.region[5:10, 5:10].all() and region.region[62:70, 30:66].all()
    # the ring: 4 px (RING_MIN; 4 % of a 32 px product is 1) around the product, not beyond
    assert region.region[45, 33] and region.region[45, 62] and not region.region[45, 25]
    # the product's interior is kept, its edge (2 px) re-drawn, never both
    assert region.keep[45, 48] and not region.region[45, 48]
    assert region.region[45, 36] and not region.keep[45, 36]
    assert not (region.region & region.keep).any()
    whole = staging_region(product, changed, refine_product=True)
    assert not whole.keep.any() and whole.region[45, 48]


def test_the_region_checks_its_masks() -> None:
    _, product = _picture()
    with pytest.raises(InputError, match=r"^product: the mask is empty"):
        staging_region(np.zeros_like(product), product)
    with pytest.raises(InputError, match=r"^changed: expected the product mask's shape"):
        staging_region(product, product[:10])
    with pytest.raises(InputError, match=r"^product: expected a non-empty H×W mask"):
        staging_region(np.zeros((4, 4, 3)), product)
    # uint8 0/255 and float masks are read at their midpoints
    same = staging_region(product.astype(np.uint8) * 255, product.astype(np.float32))
    assert np.array_equal(same.keep, staging_region(product, product).keep)


def test_the_window_is_refined_at_its_own_size_between_the_bounds() -> None:
    from adstage.generate.refine import _window

    region = np.zeros((2000, 3000), bool)
    region[1000:1100, 1000:1050] = True  # 100 px tall, grown by 32 px each side: 164 × 114
    box, size = _window(region, 8, 512, 1024)
    # scaled up to 512 tall; the width rounded up to the grid (360 = 45 cells) and the window
    # widened by a pixel to match, so both sides are scaled alike (never narrowed: the region
    # stays inside)
    assert box == (968, 968, 1083, 1132) and size == (360, 512)
    region[600:1300, 900:1500] = True  # 700 × 600, grown by 175: 1050 × 950 → down to 1024
    for largest, want in ((1024, (928, 1024)), (2048, (952, 1048)), (1000, (912, 1000))):
        box, size = _window(region, 8, 512, largest)
        assert size == want and max(size) <= largest  # 1048: its own size, on the grid
        scales = (size[0] / (box[2] - box[0]), size[1] / (box[3] - box[1]))
        assert abs(scales[0] / scales[1] - 1) < 0.01


def test_the_feather_stays_inside_the_region_and_off_the_kept_pixels() -> None:
    region = np.zeros((40, 40), bool)
    region[10:30, 5:35] = True
    keep = np.zeros_like(region)
    keep[15:25, 15:25] = True
    region &= ~keep
    weight = feather(region, keep)
    assert weight[~region].max() == 0.0 and weight[keep].max() == 0.0
    assert weight[10, 20] < 0.5 < weight[12, 20] and weight[20, 10] > 0.99  # ramps up inside
    assert weight[20, 14] > 0.4  # next to the kept pixels it is not eroded away
    assert np.array_equal(feather(region, keep, sigma=0) > 0, region)


# --- oracle U-Nets on pixel space: the schedule and the blend ------------------------------------


class _Oracle(torch.nn.Module):
    """Predicts the exact noise that turns ``clean`` into its input at timestep t (DDIM then
    recovers ``clean`` at every step); ``shift``: a wrong schedule (t off by that many steps)."""

    def __init__(self, clean: torch.Tensor, in_channels: int = 3, shift: int = 0) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.clean = clean
        self.shift = shift
        self.alphas = inference_scheduler().alphas_cumprod
        self.config = SimpleNamespace(
            in_channels=in_channels, block_out_channels=[8], cross_attention_dim=4
        )
        self.seen: list[torch.Tensor] = []
        self.timesteps: list[int] = []

    def forward(self, x, t, encoder_hidden_states):
        self.seen.append(x.clone())
        self.timesteps.append(int(t))
        latents = x[:, :3]
        a = self.alphas[int(t) + self.shift]
        eps = (latents - a.sqrt() * self.clean) / (1 - a).sqrt()
        return SimpleNamespace(sample=eps)


class _Text:
    name = "oracle-text"

    def __call__(self, prompts):
        return torch.zeros(len(prompts), 2, 4)


def _oracle_refiner(image: np.ndarray, **kwargs) -> tuple[Refiner, _Oracle]:
    clean = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 127.5 - 1.0
    unet = _Oracle(clean, **kwargs)
    return Refiner(unet, PixelSpace(), _Text(), name="oracle"), unet


def test_an_exact_noise_predictor_ends_where_ddim_must() -> None:
    image, product = _picture(64, 64)
    region = RefineRegion(~product, np.zeros_like(product))
    refiner, unet = _oracle_refiner(image)
    # the window is the whole picture at its own size: no resampling, so the DDIM partial
    # schedule and the blend alone decide the result
    out = refiner(image, region, strength=0.5, steps=10, resolution=64, seed=5)
    assert out.provenance["window"] == [0, 0, 64, 64] and out.provenance["steps_run"] == 5
    assert len(unet.seen) == 5 and unet.seen[0].shape[0] == 2  # guided: [uncond, cond]
    # SDEdit's t₀: the last 5 of 10 leading-spaced DDIM steps (steps_offset 1), as diffusers'
    # img2img picks them
    assert unet.timesteps == [401, 301, 201, 101, 1]
    # given the exact noise at every step, DDIM (η = 0) keeps the same noise and ends inside the
    # region at the schedule's final level (SD-1.5's ᾱ = 0.99915, set_alpha_to_one off):
    # √ᾱ·x₀ + √(1 − ᾱ)·n, n the run's first draw from its seed; outside it, the picture
    noise = torch.randn((1, 3, 64, 64), generator=torch.Generator().manual_seed(5))
    final = inference_scheduler().final_alpha_cumprod
    expected = final.sqrt() * unet.clean + (1 - final).sqrt() * noise
    expected = ((expected[0].clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    inside = feather(region.region, region.keep) == 1.0
    assert inside.sum() > 2000
    assert np.abs(out.image[inside].astype(int) - expected[inside].astype(int)).max() <= 1
    assert np.array_equal(out.image[product], image[product])
    # a schedule off by 20 steps ends elsewhere: the test can fail
    wrong, _ = _oracle_refiner(image, shift=20)
    off = wrong(image, region, strength=0.5, steps=10, resolution=64, seed=5).image
    assert np.abs(off[inside].astype(int) - expected[inside].astype(int)).max() > 2


def test_outside_the_region_nothing_changes_whatever_the_model_draws() -> None:
    image, product = _picture(64, 64)
    region = np.zeros_like(product)
    region[20:50, 10:40] = True
    keep = np.zeros_like(product)
    keep[30:40, 20:30] = True
    # the window is the whole picture (the region's box grown by 32 px) refined at 32 px
    noisy = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    refiner, _ = _oracle_refiner(noisy)  # predicts the noise of another picture: draws it
    out = refiner(image, RefineRegion(region & ~keep, keep), strength=0.8, steps=5, resolution=32,
                  max_resolution=32)  # fmt: skip
    untouched = ~region | keep
    assert np.array_equal(out.image[untouched], image[untouched])
    inner = np.zeros_like(region)
    inner[24:46, 14:36] = True
    assert (out.image[inner & ~keep] != image[inner & ~keep]).any(axis=1).mean() > 0.9
    assert out.provenance["pixels_changed"] == int((out.image != image).any(axis=2).sum())


def test_outside_the_region_the_latents_are_the_pictures_own_at_each_step() -> None:
    """Blended latent diffusion (Avrahami et al. 2023, §3): what the U-Net sees outside the
    (latent) region at every step is the picture noised to that step, whatever it drew."""
    image, product = _picture(64, 64)
    region = np.zeros_like(product)
    region[20:44, 20:44] = True
    noisy = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    refiner, unet = _oracle_refiner(noisy)
    refiner(image, RefineRegion(region, np.zeros_like(region)), strength=0.6, steps=5, seed=2,
            resolution=64, guidance=1.0)  # fmt: skip
    scheduler = inference_scheduler()
    scheduler.set_timesteps(5)
    timesteps = scheduler.timesteps[2:]
    clean = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 127.5 - 1.0
    noise = torch.randn((1, 3, 64, 64), generator=torch.Generator().manual_seed(2))
    outside = torch.ones(64, 64, dtype=torch.bool)
    outside[19:45, 19:45] = False  # the region, grown by one latent pixel
    assert len(unet.seen) == 3
    for seen, t in zip(unet.seen, timesteps, strict=True):
        want = scheduler.add_noise(clean, noise, t[None])
        assert torch.allclose(seen[0][:, outside], want[0][:, outside], atol=1e-5)
    assert not torch.allclose(unet.seen[-1][0][:, ~outside], want[0][:, ~outside], atol=1e-2)


def test_an_inpainting_unet_gets_the_region_and_the_blanked_picture() -> None:
    image, product = _picture(64, 64)
    region = np.zeros_like(product)
    region[16:48, 16:48] = True
    refiner, unet = _oracle_refiner(image, in_channels=7)
    assert refiner.backend == "sd-inpainting"
    refiner(image, RefineRegion(region, np.zeros_like(region)), strength=0.3, steps=10,
            resolution=64, guidance=1.0)  # fmt: skip
    x = unet.seen[0]
    assert x.shape == (1, 7, 64, 64)  # no guidance: the conditional half only
    assert torch.equal(x[0, 3] > 0.5, torch.from_numpy(region))
    blank = torch.from_numpy(image).permute(2, 0, 1).float() / 127.5 - 1.0
    blank[:, torch.from_numpy(region)] = 0.0
    assert torch.allclose(x[0, 4:], blank, atol=1e-6)


class _HalfSize:
    """A deterministic stand-in autoencoder with a 2× latent grid: encode = 2×2 mean × 0.5."""

    name = "half-size"
    channels = 3
    downscale = 2

    def encode(self, images):
        return torch.nn.functional.avg_pool2d(images, 2) * 0.5

    def decode(self, latents):
        return torch.nn.functional.interpolate(latents / 0.5, scale_factor=2, mode="nearest")


def test_an_inpainting_unet_gets_encoded_inputs_at_the_latent_grid() -> None:
    """With a real (non-identity) latent grid: the mask channel holds every latent cell any
    region pixel falls in (a 1-px ring stays), and the masked-image channels are the encoded
    picture blanked over those same cells."""
    image, _ = _picture(64, 64)
    region = np.zeros((64, 64), bool)
    region[20:44, 21] = True  # a 1-px line: nearest-neighbour at ÷2 could miss it
    unet = _Oracle(torch.zeros(1, 3, 1, 1), in_channels=7)
    refiner = Refiner(unet, _HalfSize(), _Text(), name="oracle")
    assert refiner.multiple == 2
    refiner(image, RefineRegion(region, np.zeros_like(region)), strength=0.3, steps=10,
            resolution=64, guidance=1.0)  # fmt: skip
    x = unet.seen[0]
    assert x.shape == (1, 7, 32, 27)  # the window: columns 0..54 (21 + 1 + 32), all rows
    cells = np.zeros((32, 27), bool)
    cells[10:22, 10] = True
    assert torch.equal(x[0, 3] > 0.5, torch.from_numpy(cells))
    picture = torch.from_numpy(image[:, :54]).permute(2, 0, 1)[None].float() / 127.5 - 1.0
    blank = torch.from_numpy(np.kron(cells, np.ones((2, 2))).astype(np.float32))
    want = _HalfSize().encode(picture * (1 - blank))
    assert torch.allclose(x[0, 4:], want[0], atol=1e-6)


def test_a_region_at_the_picture_s_corner_is_redrawn_to_the_border() -> None:
    image, _ = _picture(64, 64)
    region = np.zeros((64, 64), bool)
    region[:12, :12] = True
    noisy = np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    refiner, _ = _oracle_refiner(noisy)
    out = refiner(image, RefineRegion(region, np.zeros_like(region)), strength=0.8, steps=5,
                  resolution=64)  # fmt: skip
    assert out.provenance["window"][:2] == [0, 0]
    assert feather(region, np.zeros_like(region))[0, 0] > 0.9  # the frame is not an edge
    assert (out.image[0, :8] != image[0, :8]).any(axis=1).all()
    assert np.array_equal(out.image[~region], image[~region])


def test_masks_of_any_usual_type_and_bad_shapes() -> None:
    from adstage.generate.refine import StagingRefiner

    image, product = _picture(64, 64)
    as_bool = RefineRegion(~product, product)
    for region, keep in (((~product).astype(np.uint8) * 255, product.astype(np.uint8)),
                         ((~product).astype(np.float32), product.astype(int))):  # fmt: skip
        typed = RefineRegion(region, keep)
        assert typed.region.dtype == bool and np.array_equal(typed.region, as_bool.region)
        assert np.array_equal(typed.keep, as_bool.keep)
    with pytest.raises(InputError, match=r"^keep: expected a bool, integer or float mask"):
        RefineRegion(product, product.astype(object))
    refiner, _ = _oracle_refiner(image)
    hook = StagingRefiner(refiner, steps=4, strength=0.5, resolution=64)
    for kwargs, message in (
        ({"product": product[:10]}, r"^product: expected the composite's 64×64 mask"),
        ({"hole": product[:, :10]}, r"^hole: expected the composite's 64×64 mask"),
        ({"protect": product[:5]}, r"^protect: expected the composite's 64×64 mask"),
    ):
        args = {"product": product, "hole": None, "protect": None} | kwargs
        with pytest.raises(InputError, match=message):
            hook(image, image, **args)
    with pytest.raises(InputError, match=r"^composite: expected an H×W×3 uint8 picture"):
        hook(image.astype(np.float32), image, product)


def test_nothing_to_redraw_returns_the_picture() -> None:
    image, product = _picture(64, 64)
    refiner, unet = _oracle_refiner(image)
    out = refiner(image, RefineRegion(product, product))
    assert np.array_equal(out.image, image) and out.image is not image
    assert out.provenance["pixels_changed"] == 0 and not unet.seen


def test_bad_settings_and_models_are_named() -> None:
    image, product = _picture(64, 64)
    refiner, _ = _oracle_refiner(image)
    region = RefineRegion(~product, np.zeros_like(product))
    cases = [
        ({"strength": 0.0}, r"^strength: expected a value in \(0, 1\]"),
        ({"strength": 1.5}, r"^strength: "),
        ({"steps": 0}, r"^steps: expected an integer in 1\.\.999"),
        ({"steps": 1000}, r"^steps: expected an integer in 1\.\.999"),
        ({"seed": -1}, r"^seed: expected an integer in 0\.\.2\*\*63-1"),
        ({"guidance": float("nan")}, r"^guidance: expected a finite value"),
        ({"steps": 2, "strength": 0.3}, r"^strength × steps: 0.3 × 2 runs no step"),
        ({"guidance": -1.0}, r"^guidance: "),
        ({"resolution": 0}, r"^resolution: expected an integer ≥ 1"),
        ({"resolution": 64, "max_resolution": 32}, r"^max_resolution: expected an integer ≥ "),
    ]
    for kwargs, message in cases:
        with pytest.raises(InputError, match=message):
            refiner(image, region, **kwargs)
    with pytest.raises(InputError, match=r"^region: expected a 64×64 mask"):
        refiner(image, RefineRegion(product[:8], product[:8]))
    with pytest.raises(InputError, match=r"^image: expected an H×W×3 uint8 picture"):
        refiner(image[..., 0], region)
    with pytest.raises(InputError, match=r"^unet: 5 input channels; expected 3 .* or 7"):
        _oracle_refiner(image, in_channels=5)
    with pytest.raises(InputError, match=r"^scheduler: expected one of"):
        Refiner(_Oracle(torch.zeros(1)), PixelSpace(), _Text(), scheduler="nope")


def test_the_staging_hook_redraws_the_shadows_the_hole_and_the_edge_only() -> None:
    from adstage.generate.refine import StagingRefiner

    background, product = _picture(64, 64)
    composite = background.copy()
    composite[product] = (200, 10, 10)  # the pasted product
    composite[62:64, 30:66] //= 2  # its drawn shadow
    hole = np.zeros_like(product)
    hole[2:8, 2:12] = True  # what the inpainter filled
    noisy = np.random.default_rng(3).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    refiner, _ = _oracle_refiner(noisy)
    hook = StagingRefiner(refiner, steps=4, strength=0.5, resolution=64)
    image, record = hook(composite, background, product, hole)
    region = staging_region(product, hole | ((composite != background).any(axis=2) & ~product))
    assert np.array_equal(image[~region.region], composite[~region.region])
    assert np.array_equal(image[region.keep], composite[region.keep]) and region.keep.sum() > 400
    for part in (hole, np.s_[62:64, 34:60]):
        assert (image[part] != composite[part]).any()
    assert record["refine_product"] is False and record["backend"] == "sd-blended-latent"
    assert hook.settings()["strength"] == 0.5 and hook.settings()["unet"] == "oracle"
    relit, _ = StagingRefiner(refiner, steps=4, strength=0.5, resolution=64,
                              refine_product=True)(composite, background, product, hole)  # fmt: skip
    assert (relit[region.keep] != composite[region.keep]).any()
    with pytest.raises(InputError, match=r"^strength: "):
        StagingRefiner(refiner, strength=2.0)
    from adstage.stage.pipeline import StageOptions

    relight = StagingRefiner(refiner, refine_product=True)
    with pytest.raises(InputError, match=r"^refine: its refine_product re-draws the product"):
        StageOptions(product_exact=True, refine=relight)
    with pytest.raises(InputError, match=r"^refine: expected a callable refiner or None"):
        StageOptions(refine="sd15/")
    with pytest.raises(InputError, match=r"^background: expected the composite's shape"):
        hook(composite, background[:10], product, hole)


# --- tiny SD-shaped folders: the loader and the real U-Nets ---------------------------------------


def test_a_tiny_sd_folder_refines_around_the_product(folders) -> None:
    decoy = folders["sd"] / "v1-5-pruned.safetensors"  # a snapshot's other checkpoints
    decoy.write_bytes(b"never read")
    refiner = load_refiner(folders["sd"])
    hashed = [
        Path(p).relative_to(folders["sd"]).as_posix() for p in refiner.describe()["weights_sha256"]
    ]
    assert hashed == ["unet/diffusion_pytorch_model.safetensors",
                      "vae/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors"]  # fmt: skip
    decoy.unlink()
    assert refiner.backend == "sd-blended-latent" and refiner.multiple == 2
    image, product = _picture()
    changed = np.zeros_like(product)
    changed[62:68, 34:62] = True
    region = staging_region(product, changed)
    out = refiner(image, region, steps=4, strength=0.5, seed=3, resolution=32, max_resolution=64)
    untouched = ~region.region | region.keep
    assert np.array_equal(out.image[untouched], image[untouched])
    assert out.provenance["pixels_changed"] > 0.5 * region.region.sum()
    steps: list[tuple[int, int]] = []
    again = refiner(image, region, steps=4, strength=0.5, seed=3, resolution=32,
                    max_resolution=64, on_step=lambda i, n: steps.append((i, n)))  # fmt: skip
    other = refiner(image, region, steps=4, strength=0.5, seed=4, resolution=32, max_resolution=64)
    assert np.array_equal(out.image, again.image) and not np.array_equal(out.image, other.image)
    assert steps == [(0, 2), (1, 2)]  # before each step run; a hook that watches changes nothing
    p = out.provenance
    assert p["backend"] == "sd-blended-latent" and p["steps_run"] == 2 and p["seed"] == 3
    assert p["autoencoder"] == "sd-vae" and p["base"] == str(folders["sd"])
    assert p["window_size"][0] % 2 == 0 and max(p["window_size"]) == 64
    json.dumps(p)  # the record is JSON as it is
    files = p["weights_sha256"]
    assert any(k.endswith("unet/diffusion_pytorch_model.safetensors") for k in files)
    assert all(len(v) == 64 for v in files.values())


def test_a_tiny_inpainting_folder_runs(folders) -> None:
    refiner = load_refiner(folders["inpainting"])
    assert refiner.backend == "sd-inpainting"
    image, product = _picture()
    region = staging_region(product, np.zeros_like(product))
    out = refiner(image, region, steps=2, strength=1.0, resolution=32)
    assert np.array_equal(out.image[region.keep], image[region.keep])
    assert out.provenance["backend"] == "sd-inpainting" and out.provenance["steps_run"] == 2


def test_a_tiny_sd_folder_refines_in_bfloat16(folders) -> None:
    refiner = load_refiner(folders["sd"], dtype="bfloat16")
    assert refiner.dtype == torch.bfloat16
    image, product = _picture()
    region = staging_region(product, np.zeros_like(product))
    out = refiner(image, region, steps=2, strength=1.0, resolution=32, max_resolution=64)
    assert np.array_equal(out.image[~region.region], image[~region.region])
    assert out.provenance["pixels_changed"] > 0


def test_the_loader_names_what_it_cannot_read(folders, tmp_path) -> None:
    from diffusers import UNet2DConditionModel

    from adstage.generate.tiny import TINY_BASE_FILE

    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / TINY_BASE_FILE).write_text("{}")  # the marker decides the kind
    with pytest.raises(InputError, match=r"tiny base, which holds no U-Net of its own"):
        load_refiner(tmp_path / "tiny")
    (tmp_path / "sd.safetensors").write_bytes(b"x")
    with pytest.raises(InputError, match=r"is a single \.safetensors file"):
        load_refiner(tmp_path / "sd.safetensors")
    with pytest.raises(InputError, match=r"^base: .* does not exist"):
        load_refiner(tmp_path / "nowhere")
    wide = _sd_folder(tmp_path, 4, cross=16)  # a U-Net for another text encoder
    with pytest.raises(InputError, match=r"attends to 16-wide text, the text encoder gives 32"):
        load_refiner(wide)
    broken = _sd_folder(tmp_path / "b", 4)
    for f in (broken / "unet").iterdir():
        if f.suffix == ".safetensors":
            f.write_bytes(b"not weights")
    with pytest.raises(InputError, match=r"/unet: cannot load the U-Net"):
        load_refiner(broken)
    assert UNet2DConditionModel  # the import is the folder format's


# --- adstage stage --refine-base, end to end on the synthetic catalog -----------------------------


def test_cli_stage_refines_with_a_base_and_records_it(folders, tmp_path) -> None:
    pytest.importorskip("lancedb")
    from typer.testing import CliRunner

    from adstage.cli import app
    from adstage.datasets.synthetic import SyntheticCatalog
    from adstage.io.images import read_image, write_image
    from scenes import ingest_synthetic

    syn = SyntheticCatalog(30, seed=1, size=(256, 256))
    ingest_synthetic(syn, tmp_path)
    plain = [syn[i] for i in range(len(syn)) if not syn[i].staged]
    products = tmp_path / "products"
    products.mkdir()
    write_image(products / "p.png", plain[2].image)
    common = ["stage", str(products), "-c", str(tmp_path / "cat"), "-k", "1"]
    refine = ["--refine-base", str(folders["sd"]), "--refine-steps", "2",
              "--refine-strength", "0.5", "--refine-resolution", "64"]  # fmt: skip
    before = CliRunner().invoke(app, [*common, "-o", str(tmp_path / "before")])
    after = CliRunner().invoke(app, [*common, "-o", str(tmp_path / "after"), *refine])
    assert before.exit_code == 0 and after.exit_code == 0, after.stderr
    manifests = [json.loads((tmp_path / d / "p" / "manifest.json").read_text())
                 for d in ("before", "after")]  # fmt: skip
    refined = manifests[1]["candidates"][0]["provenance"]["composite"]["refine"]
    assert manifests[0]["candidates"][0]["provenance"]["composite"]["refine"] is None
    assert refined["backend"] == "sd-blended-latent" and refined["steps_run"] == 1
    assert refined["pixels_changed"] > 0 and refined["base"] == str(folders["sd"])
    images = [read_image(tmp_path / d / "p" / m["candidates"][0]["path"])
              for d, m in zip(("before", "after"), manifests, strict=True)]  # fmt: skip
    changed = (images[0] != images[1]).any(axis=2)  # two runs: only the refiner differs
    assert changed.sum() == refined["pixels_changed"] > 0
    run = json.loads((tmp_path / "after" / "adstage-run.json").read_text())
    assert run["config"]["refine"]["strength"] == 0.5
    assert run["config"]["refine"]["weights_sha256"]
    # bad input: one error line, exit 2, nothing staged
    for extra, message in (
        (["--refine-product", "--product-exact"], "--refine-product: re-draws the product"),
        (["--refine-strength", "0"], "strength: expected a value in (0, 1]"),
    ):
        bad = CliRunner().invoke(app, [*common, "-o", str(tmp_path / "bad"), *refine, *extra])
        assert bad.exit_code == 2 and message in bad.stderr, bad.stderr
    for extra, message in (
        (["--device", "mps"], "--device: expected cpu or cuda[:N], got 'mps'"),
        (["--refine-steps", "1000"], "less than or equal to 999"),
        (["--refine-resolution", "64", "--refine-max-resolution", "32"],
         "--refine-max-resolution: expected an integer ≥ resolution (64)"),
    ):  # fmt: skip
        bad = CliRunner().invoke(app, [*common, "-o", str(tmp_path / "bad"), *refine, *extra])
        assert bad.exit_code == 2 and message in bad.stderr, bad.stderr
    for extra, message in (
        (["--refine-strength", "0.3"], "--refine-strength: needs --refine-base"),
        (["--device", "cuda"], "--device: needs --refine-base"),
        (["--method", "vanilla", *refine], "--refine-base: only for --method copy-paste"),
    ):
        bad = CliRunner().invoke(app, [*common, "-o", str(tmp_path / "bad"), *extra])
        assert bad.exit_code == 2 and message in bad.stderr, bad.stderr
    (tmp_path / "sd.safetensors").write_bytes(b"x")
    bad = CliRunner().invoke(app, [*common, "-o", str(tmp_path / "bad"), "--refine-base",
                                   str(tmp_path / "sd.safetensors")])  # fmt: skip
    assert bad.exit_code == 2 and "--refine-base: " in bad.stderr
    assert "is a single .safetensors file" in bad.stderr
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    (tiny / "tiny-base.json").write_text("{}")
    bad = CliRunner().invoke(
        app, [*common, "-o", str(tmp_path / "bad"), "--refine-base", str(tiny)]
    )
    assert bad.exit_code == 2 and "holds no U-Net of its own" in bad.stderr
    assert not (tmp_path / "bad" / "p").exists()
