"""RefAdGen inference end to end on tiny random models: the tiny pixel-space base, a tiny
diffusers SD-1.5-shaped folder and a tiny single-file (LDM layout) base; seeds, batches, the
exact product paste, and one clear error per bad input."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")

import adstage  # noqa: E402
import refadgen_parity as parity  # noqa: E402
from adstage.errors import InputError  # noqa: E402
from adstage.generate.checkpoints import save_refadgen  # noqa: E402
from adstage.generate.components import base_kind, convert_single_file, load_base  # noqa: E402
from adstage.generate.pipeline import (  # noqa: E402
    LAYOUTS,
    GeneratedAd,
    RefAdGenPipeline,
    load_pipeline,
    product_canvas,
)
from adstage.generate.refadgen import build  # noqa: E402
from adstage.generate.tiny import TinyConfig, build_tiny, save_tiny_base  # noqa: E402
from adstage.io.images import write_image, write_mask  # noqa: E402
from tiny_clip import write_clip_tokenizer  # noqa: E402
from tiny_sd import TEXT, UNET, VAE, tiny_components, write_sd_folder  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = parity.tiny_config()
SIZE = (24, 32)  # (width, height)


def _product(w: int = 24, h: int = 32) -> np.ndarray:
    """An RGBA cut-out: a textured red box on a transparent background."""
    rgba = np.zeros((h, w, 4), np.uint8)
    rng = np.random.default_rng(0)
    rgba[8:26, 5:19, :3] = rng.integers(100, 250, (18, 14, 3), dtype=np.uint8)
    rgba[8:26, 5:19, 3] = 255
    return rgba


@pytest.fixture(scope="module")
def tiny_pipe() -> RefAdGenPipeline:
    from adstage.generate.base import PixelSpace

    model, text = build_tiny(TINY, seed=0)
    return RefAdGenPipeline(model.eval(), PixelSpace(), text.eval())


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny base folder and an adstage checkpoint folder."""
    root = tmp_path_factory.mktemp("tiny")
    model, text = build_tiny(TINY, seed=0)
    save_tiny_base(root / "base", TINY, text)
    save_refadgen(model, root / "ckpt")
    return root / "base", root / "ckpt"


def test_two_steps_end_to_end_give_images_of_the_requested_size(tiny_pipe) -> None:
    ad = tiny_pipe(_product(), "a red box on a table", steps=2, size=SIZE)
    assert isinstance(ad, GeneratedAd)
    assert len(ad.images) == 1
    assert ad.images[0].shape == (32, 24, 3) and ad.images[0].dtype == np.uint8
    assert ad.mask.shape == (32, 24) and ad.mask.dtype == bool
    assert ad.box == (5, 8, 19, 26)  # "photo": same size, so the product stays where it was
    p = ad.provenance
    assert p["seed"] == 42 and p["steps"] == 2 and p["guidance"] == 7.5
    assert p["text"] == "a red box on a table, best quality, high quality"
    assert p["reference_context"] == "text" and p["mask"] == "alpha"
    assert p["size"] == [24, 32] and p["dtype"] == "float32"


def test_num_images_differ_and_the_same_seed_repeats(tiny_pipe) -> None:
    a = tiny_pipe(_product(), "a box", steps=2, size=SIZE, num_images=2, seed=3)
    b = tiny_pipe(_product(), "a box", steps=2, size=SIZE, num_images=2, seed=3)
    c = tiny_pipe(_product(), "a box", steps=2, size=SIZE, num_images=1, seed=4)
    assert len(a.images) == 2 and not np.array_equal(a.images[0], a.images[1])
    assert all(np.array_equal(x, y) for x, y in zip(a.images, b.images, strict=True))
    assert not np.array_equal(a.images[0], c.images[0])


def test_product_exact_keeps_the_product_bit_identical(tiny_pipe) -> None:
    product = _product()
    ad = tiny_pipe(product, "a box", steps=2, size=SIZE, product_exact=True)
    core = np.zeros((32, 24), bool)
    core[9:25, 6:18] = True  # inside the mask eroded by 1 px
    assert np.array_equal(ad.images[0][core], product[..., :3][core])
    plain = tiny_pipe(product, "a box", steps=2, size=SIZE)
    assert not np.array_equal(plain.images[0][core], product[..., :3][core])
    outside = ~ad.mask
    assert np.array_equal(ad.images[0][outside], plain.images[0][outside])


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal up to one level of uint8 rounding (batched float arithmetic may round differently)."""
    return int(np.abs(a.astype(int) - b.astype(int)).max()) <= 1


def test_a_batch_gives_each_product_the_images_it_gets_alone(tiny_pipe) -> None:
    other = _product()
    other[8:26, 5:19, :3] = 255 - other[8:26, 5:19, :3]
    products, prompts, seeds = (
        [_product(), other, _product()],
        ["a box", "a lamp", "a box"],
        [3, 3, 9],
    )
    ads = tiny_pipe.batch(products, prompts, seeds=seeds, steps=3, size=SIZE, num_images=2)
    assert len(ads) == 3
    for ad, product, prompt, seed in zip(ads, products, prompts, seeds, strict=True):
        alone = tiny_pipe(product, prompt, seed=seed, steps=3, size=SIZE, num_images=2)
        assert all(_close(x, y) for x, y in zip(ad.images, alone.images, strict=True))
        assert ad.provenance["seed"] == seed and ad.provenance["batch"] == 3
        assert ad.provenance["prompt"] == prompt
    # the same seed with another product or prompt is another picture, not a copy
    assert not _close(ads[0].images[0], ads[1].images[0])
    assert not _close(ads[0].images[0], ads[2].images[0])


def test_a_batch_refuses_lists_that_do_not_line_up(tiny_pipe) -> None:
    with pytest.raises(InputError, match=r"^batch: .*2 products, 1 prompts"):
        tiny_pipe.batch([_product(), _product()], ["a box"], steps=1, size=SIZE)
    with pytest.raises(InputError, match=r"^batch: .*0 products"):
        tiny_pipe.batch([], [], steps=1, size=SIZE)
    with pytest.raises(InputError, match=r"^batch: .*1 seeds"):
        tiny_pipe.batch([_product()] * 2, ["a", "b"], seeds=[1], steps=1, size=SIZE)


@pytest.mark.parametrize("layout", [name for name in LAYOUTS if name != "photo"])
def test_layouts_place_the_product_inside_the_canvas(layout) -> None:
    canvas = product_canvas(_product(), size=(64, 48), layout=layout)
    x0, y0, x1, y1 = canvas.box
    assert 0 <= x0 < x1 <= 64 and 0 <= y0 < y1 <= 48
    assert canvas.mask[y0:y1, x0:x1].any() and not canvas.mask[:, :x0].any()
    outside = np.ones((48, 64), bool)
    outside[y0:y1, x0:x1] = False
    assert (canvas.image[outside] == 255).all()  # white around the product
    if layout == "left":
        assert (x0 + x1) / 2 < 32
    if layout == "right":
        assert (x0 + x1) / 2 > 32


def test_a_product_on_white_is_segmented(tiny_pipe) -> None:
    photo = np.full((32, 24, 3), 255, np.uint8)
    photo[8:26, 5:19] = (30, 60, 200)
    ad = tiny_pipe(photo, "a box", steps=1, size=SIZE)
    assert ad.provenance["mask"].startswith("segmented:")
    assert ad.mask[10:24, 7:17].all() and not ad.mask[:4].any()


def test_bad_inputs_raise_one_clear_error_each(tiny_pipe, tmp_path) -> None:
    product = _product()
    with pytest.raises(InputError, match=r"^prompt: "):
        tiny_pipe(product, "  ", steps=1, size=SIZE)
    with pytest.raises(InputError, match=r"mask: is 10×10 \(W×H\) but the product is 24×32"):
        tiny_pipe(product, "a box", mask=np.ones((10, 10), bool), steps=1, size=SIZE)
    with pytest.raises(InputError, match="empty"):
        tiny_pipe(product, "a box", mask=np.zeros((32, 24), bool), steps=1, size=SIZE)
    with pytest.raises(InputError, match=r"^size: 30×32"):
        tiny_pipe(product, "a box", steps=1, size=(30, 32))
    for kwargs, name in [
        ({"steps": 0}, "steps"),
        ({"guidance": -1.0}, "guidance"),
        ({"fusion_scale": -0.5}, "fusion_scale"),
        ({"num_images": 0}, "num_images"),
        ({"layout": "diagonal"}, "layout"),
    ]:
        with pytest.raises(InputError, match=rf"^{name}: "):
            tiny_pipe(product, "a box", size=SIZE, **({"steps": 1} | kwargs))
    # a mask file of the wrong size names both sizes too
    write_mask(tmp_path / "m.png", np.ones((16, 16), bool))
    with pytest.raises(InputError, match=r"16×16.*24×32"):
        tiny_pipe(product, "a box", mask=tmp_path / "m.png", steps=1, size=SIZE)


def test_load_pipeline_from_a_tiny_base_and_an_adstage_checkpoint(tiny_files, tmp_path) -> None:
    base, ckpt = tiny_files
    pipe = load_pipeline(base, ckpt)
    write_image(tmp_path / "product.png", _product())
    ad = pipe(tmp_path / "product.png", "a box", steps=2, size=SIZE)
    assert ad.images[0].shape == (32, 24, 3)
    sources = ad.provenance
    assert sources["base"]["kind"] == "tiny"
    assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in sources["base"]["sha256"].values())
    assert any(p.endswith("refadgen.safetensors") for p in sources["checkpoint"]["sha256"])


def test_the_scheduler_is_the_checkpoints_unless_named(tiny_files, tmp_path) -> None:
    """auto: what the trainer recorded in refadgen.json (training for a tiny model), else the
    release's; a name overrides it; an unknown name is an InputError."""

    from adstage.generate.sampling import SCHEDULERS

    base, ckpt = tiny_files
    assert load_pipeline(base, ckpt).scheduler_name == "release"  # nothing recorded
    recorded = tmp_path / "recorded"
    recorded.mkdir()
    for f in ckpt.iterdir():
        (recorded / f.name).write_bytes(f.read_bytes())
    meta = json.loads((recorded / "refadgen.json").read_text())
    (recorded / "refadgen.json").write_text(json.dumps(meta | {"inference_scheduler": "training"}))
    pipe = load_pipeline(base, recorded)
    assert pipe.scheduler_name == "training"
    assert pipe.scheduler.config.rescale_betas_zero_snr and pipe.scheduler.config.clip_sample
    assert pipe.scheduler.config.timestep_spacing == SCHEDULERS["training"]["timestep_spacing"]
    ad = pipe(_product(), "a box", steps=2, size=SIZE)
    assert ad.provenance["scheduler"] == "training"
    assert load_pipeline(base, recorded, scheduler="release").scheduler_name == "release"
    assert pipe.scheduler.config.prediction_type == "epsilon"  # nothing recorded: as released
    (recorded / "refadgen.json").write_text(
        json.dumps(meta | {"inference_scheduler": "training", "prediction_type": "v_prediction"})
    )
    v = load_pipeline(base, recorded)
    assert v.scheduler.config.prediction_type == "v_prediction"
    assert (
        v(_product(), "a box", steps=2, size=SIZE).provenance["prediction_type"] == "v_prediction"
    )
    # another prediction type is another model: its images differ from the ε reading's
    assert not np.array_equal(v(_product(), "a box", steps=2, size=SIZE).images[0], ad.images[0])
    with pytest.raises(InputError, match="scheduler: expected auto or one of release, training"):
        load_pipeline(base, ckpt, scheduler="euler")


def test_missing_or_wrong_bases_and_checkpoints_are_input_errors(tiny_files, tmp_path) -> None:
    base, ckpt = tiny_files
    with pytest.raises(InputError, match=r"base: .* does not exist; expected a diffusers"):
        load_pipeline(tmp_path / "nowhere", ckpt)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"is neither a diffusers SD-1.5 folder .* nor a tiny"):
        load_pipeline(tmp_path / "empty", ckpt)
    with pytest.raises(InputError, match=r"^checkpoint: .* does not exist"):
        load_pipeline(base, tmp_path / "nowhere")
    other = TinyConfig(**(TINY.as_dict() | {"block_out_channels": (8, 24)}))
    model, _ = build_tiny(other, seed=0)
    save_refadgen(model, tmp_path / "other")
    with pytest.raises(InputError, match="expected architecture"):
        load_pipeline(base, tmp_path / "other")
    with pytest.raises(InputError, match="dtype"):
        load_pipeline(base, ckpt, dtype="float64")


# --- SD-1.5-shaped components: a diffusers folder and a single LDM file -------------------------


@pytest.fixture(scope="module")
def sd_folder(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny diffusers SD-1.5-shaped folder and a RefAdGen checkpoint for its U-Net."""
    root = tmp_path_factory.mktemp("sd")
    folder = write_sd_folder(root / "sd15")
    torch.manual_seed(0)
    save_refadgen(build(UNET, None), root / "ckpt")
    return folder, root / "ckpt"


def test_a_diffusers_folder_loads_and_runs(sd_folder, tmp_path) -> None:
    folder, ckpt = sd_folder
    assert base_kind(folder) == "diffusers"
    pipe = load_pipeline(folder, ckpt)
    assert pipe.autoencoder.downscale == 2 and pipe.multiple == 16
    ids = pipe.text_encoder.tokenizer(["a red box"], padding="max_length").input_ids  # type: ignore[attr-defined]
    assert len(ids[0]) == 77
    ad = pipe(_product(32, 32), "a red box", steps=2, size=(32, 32), num_images=2)
    assert [im.shape for im in ad.images] == [(32, 32, 3)] * 2
    assert not np.array_equal(ad.images[0], ad.images[1])
    assert ad.provenance["backends"]["autoencoder"] == "sd-vae"
    assert ad.provenance["reference_context"] == "text"
    again = pipe(_product(32, 32), "a red box", steps=2, size=(32, 32), num_images=2)
    assert np.array_equal(ad.images[1], again.images[1])
    # a batch draws each product's noise and VAE sample from its own generator, as alone
    both = pipe.batch([_product(32, 32)] * 2, ["a blue box", "a red box"], seeds=[7, 42],
                      steps=2, size=(32, 32), num_images=2)  # fmt: skip
    assert all(_close(x, y) for x, y in zip(both[1].images, ad.images, strict=True))
    with pytest.raises(InputError, match=r"^size: 24×32 .* multiple of 16"):
        pipe(_product(32, 32), "a red box", steps=1, size=(24, 32))


def test_a_resampler_checkpoint_needs_an_image_encoder(sd_folder, tmp_path) -> None:
    folder, _ = sd_folder
    torch.manual_seed(0)
    resampler = {"dim": 32, "depth": 1, "dim_head": 8, "heads": 4, "num_queries": 4,
                 "embedding_dim": 24, "output_dim": 32, "ff_mult": 1}  # fmt: skip
    save_refadgen(build(UNET, resampler), tmp_path / "with-proj")
    with pytest.raises(InputError, match=r"^image_encoder: .*Resampler"):
        load_pipeline(folder, tmp_path / "with-proj")


def _ldm_vae_keys(state: dict) -> dict:
    """diffusers AutoencoderKL keys → the original (LDM) layout (the inverse of diffusers'
    convert_ldm_vae_checkpoint), for a two-level VAE."""
    out = {}
    n = len(VAE["up_block_types"])
    for key, value in state.items():
        k = key.replace("conv_shortcut", "nin_shortcut").replace("conv_norm_out", "norm_out")
        k = re.sub(r"encoder\.down_blocks\.(\d+)\.resnets\.", r"encoder.down.\1.block.", k)
        k = re.sub(
            r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.", r"encoder.down.\1.downsample.", k
        )
        k = re.sub(
            r"decoder\.up_blocks\.(\d+)\.(resnets|upsamplers\.0)\.",
            lambda m: (
                f"decoder.up.{n - 1 - int(m.group(1))}."
                + ("block." if m.group(2) == "resnets" else "upsample.")
            ),
            k,
        )
        k = re.sub(r"mid_block\.resnets\.(\d+)\.", lambda m: f"mid.block_{int(m.group(1)) + 1}.", k)
        if "mid_block.attentions.0." in k:
            k = k.replace("mid_block.attentions.0.", "mid.attn_1.")
            k = k.replace("group_norm.", "norm.").replace("to_out.0.", "proj_out.")
            k = re.sub(r"to_([qkv])\.", r"\1.", k)
            if value.ndim == 2:
                value = value[:, :, None, None]
        out["first_stage_model." + k] = value
    return out


@pytest.fixture(scope="module")
def single_file(tmp_path_factory) -> tuple[Path, Path, dict, dict]:
    from safetensors.torch import save_file

    root = tmp_path_factory.mktemp("single")
    vocab = write_clip_tokenizer(root / "tokenizer")
    vae, text = tiny_components(vocab)
    ldm = _ldm_vae_keys(vae.state_dict())
    prefix = "cond_stage_model.transformer.text_model."
    ldm |= {prefix + k: v for k, v in text.state_dict().items()}
    ldm["model.diffusion_model.out.2.bias"] = torch.zeros(4)  # the U-Net: not read
    save_file({k: v.contiguous() for k, v in ldm.items()}, str(root / "sd15.safetensors"))
    return root / "sd15.safetensors", root / "tokenizer", vae.state_dict(), text.state_dict()


def test_a_single_file_converts_with_diffusers_converters(single_file) -> None:
    from safetensors.torch import load_file

    path, _, vae_sd, text_sd = single_file
    vae, text = convert_single_file(
        load_file(str(path)), vae_config=VAE, text_config=TEXT | {"vocab_size": 60}
    )
    for name, tensor in vae.state_dict().items():
        assert torch.equal(tensor, vae_sd[name]), name
    for name, tensor in text.state_dict().items():
        assert torch.equal(tensor, text_sd[name]), name


def test_a_single_file_needs_a_tokenizer_and_sd15_shapes(single_file, tmp_path) -> None:
    path, tokenizer, _, _ = single_file
    assert base_kind(path) == "single-file"
    with pytest.raises(InputError, match=r"holds no tokenizer .*--tokenizer DIR"):
        load_base(path)
    # the real loader builds SD-1.5's shapes: a tiny file is refused with one clear line
    with pytest.raises(InputError, match=r"not an SD-1\.5 checkpoint of the expected shape"):
        load_base(path, tokenizer=tokenizer)
    from safetensors.torch import save_file

    save_file({"foo.weight": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(InputError, match=r"no first_stage_model\.\* keys"):
        load_base(tmp_path / "other.safetensors", tokenizer=tokenizer)


# --- the public API -----------------------------------------------------------------------------


def test_adstage_generate_is_the_callable_package(tiny_pipe) -> None:
    ad = adstage.generate(_product(), "a box", pipeline=tiny_pipe, steps=1, size=SIZE)
    typed = adstage.generate_ad(_product(), "a box", pipeline=tiny_pipe, steps=1, size=SIZE)
    assert np.array_equal(ad.images[0], typed.images[0])
    import adstage.generate.pipeline as module

    assert module.generate is not adstage.generate and callable(adstage.generate)
    with pytest.raises(InputError, match=r"^pipeline: "):
        adstage.generate(_product(), "a box", pipeline="nope")


def test_import_adstage_does_not_import_diffusers() -> None:
    code = (
        "import sys, adstage; assert callable(adstage.generate); "
        "print('diffusers' in sys.modules, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"
