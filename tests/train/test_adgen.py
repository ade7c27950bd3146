"""RefAdGen training: one step against the released code's tensors (parity), the noise draw,
the loss going down, the released trainable set, resume = straight run bit for bit, and bad
manifests (a missing column is an error; missing or unreadable files are recorded and skipped)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("accelerate")

import refadgen_parity as parity  # noqa: E402
from adstage.errors import InputError  # noqa: E402
from adstage.generate.base import PixelSpace  # noqa: E402
from adstage.generate.checkpoints import load_refadgen, read_metadata  # noqa: E402
from adstage.generate.sampling import training_scheduler  # noqa: E402
from adstage.generate.tiny import TinyConfig, build_tiny, load_tiny_base  # noqa: E402
from adstage.io.images import write_image, write_mask  # noqa: E402
from adstage.train.adgen import (  # noqa: E402
    AdGenConfig,
    Base,
    draw_noise,
    load_base,
    read_checkpoint,
    read_manifest,
    train_adgen,
    train_step,
    trainable,
)
from scenes import product_on_white  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = {"tiny_channels": (16, 32, 32), "size": (32, 32)}


def _max(a, b) -> float:
    return float((a.float() - b.float()).abs().max())


# --- parity with the released step ----------------------------------------------------------


def test_one_step_matches_the_release():
    """README §4: the batch carried the forward.* text/image embeddings and ref latents."""
    inputs, outputs = parity.tensors("inputs"), parity.tensors("outputs")
    training = parity.config()["training"]
    model = parity.model()
    model.train()
    model.set_trainable()
    named = list(model.trainable_parameters())
    optimizer = torch.optim.AdamW(
        [p for _, p in named], lr=1e-5, weight_decay=0.01, betas=(0.9, 0.999), eps=1e-8
    )
    lr_scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)  # "constant"
    grads: dict[str, torch.Tensor] = {}

    def capture(*_):
        grads.update({id(p): p.grad.clone() for _, p in named if p.grad is not None})

    optimizer.register_step_pre_hook(capture)
    record: dict[str, torch.Tensor] = {}
    loss = train_step(
        model,
        optimizer,
        training_scheduler(),
        latents=inputs["train.latents"],
        ref_latents=inputs["forward.ref_latents"],
        mask_latent=inputs["train.mask_latent"],
        text_embeds=inputs["forward.encoder_hidden_states"],
        image_embeds=inputs["forward.clip_image_embeddings"],
        noise=inputs["train.noise"],
        timesteps=inputs["train.timesteps"],
        lr_scheduler=lr_scheduler,
        record=record,
    )
    # add_noise is one multiply-add per element: equal up to float32 rounding, which depends on
    # whether the CPU's vectorised kernel fuses it (FMA). Bit-equal on the machine the tensors
    # were checked on; 2.4e-7 (one rounding step at these magnitudes) on another, 2026-12-02.
    rounding = 1e-6
    assert _max(record["noisy_latents"], outputs["train.noisy_latents"]) <= rounding
    assert _max(record["unet_input"], outputs["train.unet_input_5ch"]) <= rounding
    assert _max(record["model_pred"], outputs["train.model_pred"]) <= parity.atol(
        "train.model_pred"
    )
    assert abs(float(loss) - float(outputs["train.loss"][0])) <= parity.atol("train.loss")
    assert abs(float(loss) - training["loss"]) <= parity.atol("train.loss")

    # every watched gradient (relative to its max) and every watched parameter after the step
    grad_tol = parity.atol("train.grad.* (relative to the tensor's max abs)")
    param_tol = parity.atol("train.after_step.* (or the update after-minus-before)")
    params = dict(model.named_parameters(remove_duplicate=False))  # the unet.* aliases too
    watched = [k.removeprefix("train.grad.") for k in outputs if k.startswith("train.grad.")]
    assert len(watched) == 13
    for name in watched:
        want = outputs[f"train.grad.{name}"]
        got = grads[id(params[name])]
        assert _max(got, want) / float(want.abs().max()) <= grad_tol, name
        after = outputs[f"train.after_step.{name}"]
        assert _max(params[name].detach(), after) <= param_tol, name

    # the trainable tensors without a gradient are exactly the released 24, left untouched
    no_grad = [n for n, p in named if id(p) not in grads]
    assert no_grad == training["trainable_without_grad_skipped_by_adamw"]
    before = parity.tensors("state_dict")
    for name in no_grad:
        assert torch.equal(params[name].detach(), before[name]), name
    assert all(p.grad is None for _, p in named)  # zero_grad after the step


def test_noise_draw_matches_the_release():
    inputs = parity.tensors("inputs")
    torch.manual_seed(8)
    latents = torch.randn(2, 4, 16, 16)
    assert torch.equal(latents, inputs["train.latents"])
    drawn = draw_noise(latents, noise_offset=0.05)
    assert torch.equal(drawn.base, inputs["train.noise_base"])
    assert torch.equal(drawn.offset, inputs["train.noise_offset_draw"])
    assert torch.equal(drawn.noise, inputs["train.noise"])
    assert torch.equal(drawn.timesteps, inputs["train.timesteps"])
    assert drawn.timesteps.tolist() == parity.config()["training"]["timesteps_drawn"]
    # the same draws from a generator; no offset draw without an offset
    g = torch.Generator().manual_seed(8)
    torch.randn(2, 4, 16, 16, generator=g)
    assert torch.equal(draw_noise(latents, noise_offset=0.05, generator=g).noise, drawn.noise)
    plain = draw_noise(latents, noise_offset=0.0, generator=torch.Generator().manual_seed(0))
    assert plain.offset is None and torch.equal(plain.noise, plain.base)


# --- the tiny configuration -----------------------------------------------------------------


def _tiny_base(config: TinyConfig) -> Base:
    model, text = build_tiny(config, seed=0)
    return Base("tiny", model, text, PixelSpace(), None, True, (32, 32), config.multiple, config)


@pytest.mark.parametrize("prediction", ["epsilon", "v_prediction"])
def test_two_steps_lower_the_loss_on_a_fixed_batch(prediction: str):
    """The loss is the MSE against the noise (ε, as released) or against v = √ᾱ·ε − √(1−ᾱ)·x₀."""
    config = TinyConfig(resolution=32, block_out_channels=(16, 32, 32))
    base = _tiny_base(config)
    named = trainable(base, "all")
    optimizer = torch.optim.AdamW([p for _, p in named], lr=1e-3, weight_decay=0.01)
    g = torch.Generator().manual_seed(0)
    latents = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1
    ref = latents.clone()
    mask = (torch.rand(2, 1, 32, 32, generator=g) > 0.5).float()
    drawn = draw_noise(latents, noise_offset=0.05, generator=g)
    scheduler = training_scheduler(prediction)
    prompts = ["a blue vase on a table", "a chair"]
    ab = scheduler.alphas_cumprod[drawn.timesteps].view(-1, 1, 1, 1)
    target = (
        drawn.noise
        if prediction == "epsilon"
        else ab.sqrt() * drawn.noise - (1 - ab).sqrt() * latents
    )

    def loss_now() -> float:
        with torch.no_grad():
            noisy = scheduler.add_noise(latents, drawn.noise, drawn.timesteps)
            text = base.text_encoder(prompts)
            pred = base.model(text, torch.cat([noisy, mask], 1), ref, None, drawn.timesteps)
            return float(torch.nn.functional.mse_loss(pred, target))

    base.model.train()
    first = loss_now()
    losses = []
    for _ in range(2):
        loss = train_step(
            base.model, optimizer, scheduler, latents=latents, ref_latents=ref, mask_latent=mask,
            text_embeds=base.text_encoder(prompts), image_embeds=None, noise=drawn.noise,
            timesteps=drawn.timesteps,
        )  # fmt: skip
        losses.append(float(loss))
    assert losses[0] == pytest.approx(first, rel=1e-5)
    assert loss_now() < first


def test_the_trainable_set_is_the_released_one():
    base = _tiny_base(TinyConfig(resolution=32, block_out_channels=(16, 32, 32)))
    named = trainable(base, "released")
    released = [n for n, _ in base.model.trainable_parameters()]
    assert [n for n, _ in named] == released
    assert released[0].startswith("proj.") is False  # no Resampler in the text fallback
    groups = ("ref_unet.", "adapter_modules.", "unet.conv_in.")
    assert all(n.startswith(groups) for n in released)
    trained = {id(p) for _, p in named}
    for n, p in base.model.named_parameters():
        assert p.requires_grad == (id(p) in trained), n
    assert not any(p.requires_grad for p in base.text_encoder.parameters())
    # "all" (a fresh model): the released set first, in order, then the rest and the text
    everything = trainable(base, "all")
    names = [n for n, _ in everything]
    assert names[: len(released)] == released
    assert any(n.startswith("text_encoder.") for n in names)
    assert all(p.requires_grad for p in base.model.parameters())
    assert len({id(p) for _, p in everything}) == len(everything)


def test_the_released_trainable_set_of_the_parity_model():
    model = parity.model()
    base = Base("sd15", model, None, PixelSpace(), None, False, (128, 128), 8)
    names = [n for n, _ in trainable(base, "auto")]
    assert names == (parity.PARITY / "trainable_parameters.txt").read_text().split()


# --- the run ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    """4 good rows (one without a mask: segmented), one with a missing file, one unreadable."""
    root = tmp_path_factory.mktemp("adgen-data")
    rows = []
    for i, fill in enumerate([(40, 90, 160), (160, 60, 40), (30, 140, 60), (120, 120, 30)]):
        product, mask = product_on_white(40, 32, fill=fill)
        ad = product.copy()
        ad[~mask] = (np.array([200, 180, 150]) - 20 * i).astype(np.uint8)
        write_image(root / f"ad{i}.png", ad)
        write_image(root / f"product{i}.png", product)
        row = {"ad": f"ad{i}.png", "product": f"product{i}.png", "text": f"vase number {i}"}
        if i != 3:
            write_mask(root / f"mask{i}.png", mask)
            row["mask"] = f"mask{i}.png"
        rows.append(row)
    rows.append({"ad": "ad0.png", "product": "gone.png", "text": "missing"})
    (root / "broken.png").write_bytes(b"not a png")
    rows.append({"ad": "broken.png", "product": "product0.png", "text": "broken"})
    path = root / "manifest.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["ad", "product", "mask", "text"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def _config(manifest: Path, out: Path, **kw) -> AdGenConfig:
    base = dict(data=str(manifest), out=str(out), steps=2, batch_size=2, lr=1e-4, every=1)
    run = dict(log_every=1, sample_steps=2, recipe="release", warmup=0, threads=1)
    return AdGenConfig(**{**base, **run, **TINY, **kw})


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return read_checkpoint(path)["model"]


def test_a_resumed_run_ends_with_the_weights_of_a_straight_one(manifest: Path, tmp_path: Path):
    logs = []
    straight = train_adgen(_config(manifest, tmp_path / "b"), on_log=logs.append)
    assert straight.step == 2 and [r["step"] for r in logs] == [1, 2]
    assert "eta_s" in logs[-1] and "loss" in logs[-1]
    assert straight.n_train == 4 and straight.failures == 2
    failures = [
        json.loads(x) for x in (tmp_path / "b" / "failures.jsonl").read_text().split("\n") if x
    ]
    assert sorted(f["row"] for f in failures) == [4, 5]
    assert "gone.png" in failures[0]["error"]
    grid = tmp_path / "b" / "samples" / "step-0000002.png"
    from adstage.io.images import read_image

    assert read_image(grid).shape == (4 * 32, 4 * 32, 3)  # ad | product | mask | sample

    train_adgen(_config(manifest, tmp_path / "a", steps=1))
    resumed = train_adgen(_config(manifest, tmp_path / "a"), resume=True)
    assert resumed.step == 2
    a, b = _weights(resumed.checkpoint), _weights(straight.checkpoint)
    assert list(a) == list(b)
    for name in a:
        assert torch.equal(a[name], b[name]), name
    state = read_checkpoint(straight.checkpoint)
    assert {"model", "optimizer", "text_encoder", "rng", "config", "step"} <= set(state)
    assert state["config"]["base"] == "tiny"

    # OUT/final: the model and the tiny base, as the pipeline loads them
    final = straight.final
    model = load_refadgen(final)
    for name, value in model.state_dict().items():
        assert torch.equal(value, b[name]), name
    tiny = load_tiny_base(final)
    assert tiny.config.block_out_channels == (16, 32, 32)
    for name, value in tiny.text_encoder.state_dict().items():
        assert torch.equal(value, state["text_encoder"][name]), name


def test_resume_refuses_another_base(manifest: Path, tmp_path: Path):
    train_adgen(_config(manifest, tmp_path / "run", steps=1, every=5))
    with pytest.raises(InputError, match="tiny_channels"):
        train_adgen(_config(manifest, tmp_path / "run", tiny_channels=(8, 16, 16)))
    with pytest.raises(InputError, match=r"prediction: .* trained with 'auto', got 'epsilon'"):
        train_adgen(_config(manifest, tmp_path / "run", steps=2, prediction="epsilon"))


def test_a_checkpoint_from_before_a_setting_existed_resumes_with_its_default(
    manifest: Path, tmp_path: Path
):
    """A checkpoint whose config lacks an architecture key (written before the key existed)
    trained with that key's default: it resumes under the default and refuses another value."""
    first = train_adgen(_config(manifest, tmp_path / "run", steps=1, every=5))
    state = torch.load(first.checkpoint, weights_only=False)
    del state["config"]["prediction"]
    torch.save(state, first.checkpoint)
    with pytest.raises(InputError, match=r"prediction: .* trained with 'auto', got 'epsilon'"):
        train_adgen(_config(manifest, tmp_path / "run", steps=2, prediction="epsilon"))
    assert train_adgen(_config(manifest, tmp_path / "run", steps=2)).step == 2


def test_bad_manifests(manifest: Path, tmp_path: Path):
    bad = tmp_path / "bad.csv"
    bad.write_text("ad,text\nad0.png,x\n")
    with pytest.raises(InputError, match="no 'product' column"):
        read_manifest(bad)
    with pytest.raises(InputError, match="does not exist"):
        read_manifest(tmp_path / "nothing.csv")
    items, failures = read_manifest(manifest)
    assert [it.row for it in items] == [0, 1, 2, 3, 5] and failures[0]["row"] == 4
    assert items[3].mask is None and items[0].mask == manifest.parent / "mask0.png"
    # accepted alternative names, and Parquet
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    table = pa.table({"ad_path": ["ad0.png"], "product_path": ["product0.png"], "prompt": ["x"]})
    pq.write_table(table, manifest.parent / "m.parquet")
    items, failures = read_manifest(manifest.parent / "m.parquet")
    assert len(items) == 1 and items[0].text == "x" and items[0].mask is None and not failures
    # nothing usable: one clear error, the failures recorded
    none = tmp_path / "none.csv"
    none.write_text("ad,product,text\ngone.png,gone.png,x\n")
    with pytest.raises(InputError, match="none of the 1 rows"):
        train_adgen(_config(none, tmp_path / "run"))
    assert "gone.png" in (tmp_path / "run" / "failures.jsonl").read_text()


def test_config_errors(manifest: Path, tmp_path: Path):
    with pytest.raises(InputError, match="steps"):
        AdGenConfig(data=str(manifest), out=str(tmp_path), recipe="release")
    with pytest.raises(InputError, match="not both"):
        AdGenConfig(data=str(manifest), out=str(tmp_path), steps=2, epochs=1)
    with pytest.raises(InputError, match="CUDA"):
        AdGenConfig(data=str(manifest), out=str(tmp_path), mixed_precision="fp16")
    with pytest.raises(InputError, match="recipe"):
        AdGenConfig(data=str(manifest), out=str(tmp_path), recipe="fast")
    paper = AdGenConfig(data=str(manifest), out=str(tmp_path))
    assert paper.schedule == ("linear", 500) and paper.batch_size == 3 and paper.lr == 1e-5
    assert AdGenConfig(data="m", out="o", recipe="release", steps=5).schedule == (
        "constant_with_warmup",
        2000,
    )
    with pytest.raises(InputError, match="divisible"):
        train_adgen(_config(manifest, tmp_path / "odd", size=(30, 32)))


def _tiny_sd15(root: Path) -> Path:
    """A diffusers SD-1.5-layout folder of tiny random components (no weights exist here)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import (
        CLIPTextConfig,
        CLIPTextModel,
        CLIPTokenizer,
        CLIPVisionConfig,
        CLIPVisionModelWithProjection,
    )

    torch.manual_seed(0)
    UNet2DConditionModel(**parity.TINY_UNET).save_pretrained(root / "unet")
    AutoencoderKL(
        block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4, norm_num_groups=8,
        layers_per_block=1,
    ).save_pretrained(root / "vae")  # fmt: skip
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for token in letters + [f"{c}</w>" for c in letters]:
        vocab[token] = len(vocab)
    (root / "tokenizer").mkdir()
    (root / "tokenizer" / "vocab.json").write_text(json.dumps(vocab))
    (root / "tokenizer" / "merges.txt").write_text("#version: 0.2\n")
    CLIPTokenizer(
        str(root / "tokenizer" / "vocab.json"), str(root / "tokenizer" / "merges.txt"),
        model_max_length=8,
    ).save_pretrained(root / "tokenizer")  # fmt: skip
    text = CLIPTextConfig(
        vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=4, max_position_embeddings=8, projection_dim=32,
    )  # fmt: skip
    CLIPTextModel(text).save_pretrained(root / "text_encoder")
    vision = CLIPVisionConfig(
        hidden_size=48, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        image_size=32, patch_size=8, projection_dim=32,
    )  # fmt: skip
    CLIPVisionModelWithProjection(vision).save_pretrained(root / "image_encoder")
    (root / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    return root


def test_an_sd15_folder_trains_with_the_resampler(manifest: Path, tmp_path: Path):
    pytest.importorskip("transformers")
    folder = _tiny_sd15(tmp_path / "sd15")
    config = _config(manifest, tmp_path / "run", base=str(folder), steps=1)
    result = train_adgen(config)
    state = read_checkpoint(result.checkpoint)
    assert any(k.startswith("proj.") for k in state["model"])  # the Resampler over CLIP
    assert "text_encoder" not in state  # frozen: the released trainable set
    before = _unet_state(folder)
    after = state["model"]
    # the Generation U-Net is frozen but for conv_in (and the fusion projections)
    name = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight"
    assert torch.equal(after[f"unet.{name}"], before[name])
    assert not torch.equal(after["ref_unet.conv_in.weight"], before["conv_in.weight"])
    model = load_refadgen(result.final)
    assert model.proj is not None and not (result.final / "tiny-base.json").exists()


def _unet_state(folder: Path) -> dict[str, torch.Tensor]:
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel.from_pretrained(folder / "unet").state_dict()


def test_an_ip_adapter_file_initialises_the_resampler(manifest: Path, tmp_path: Path):
    """--ip-adapter: the Resampler starts from the file's image_proj weights, as released."""
    pytest.importorskip("transformers")
    from adstage.generate.refadgen import Resampler, ResamplerConfig

    folder = _tiny_sd15(tmp_path / "sd15")
    torch.manual_seed(123)
    donor = Resampler(ResamplerConfig.for_unet(32, image_hidden_size=48))
    ip = tmp_path / "ip-adapter-plus_sd15.bin"
    torch.save(
        {"image_proj": donor.state_dict(), "ip_adapter": {"1.to_k_ip.weight": torch.ones(1)}}, ip
    )
    config = _config(manifest, tmp_path / "run", base=str(folder), steps=1, ip_adapter=str(ip))
    base = load_base(config, device=torch.device("cpu"), dtype=torch.float32)
    assert base.model.proj is not None
    for key, value in donor.state_dict().items():
        assert torch.equal(base.model.proj.state_dict()[key], value), key
    tiny = _config(manifest, tmp_path / "tiny", steps=1, ip_adapter=str(ip))
    with pytest.raises(InputError, match="no Resampler"):
        load_base(tiny, device=torch.device("cpu"), dtype=torch.float32)


def test_bf16_autocast_and_channels_last_train_on_a_cpu(manifest: Path, tmp_path: Path):
    """bf16 on a CPU is autocast around the model's forward: the first step's loss (same
    weights, batch and noise) moves by bf16 rounding, the weights stay float32. NHWC keeps the
    weights in channels-last order (the checkpoint keeps it) and changes float32 rounding only.
    fp16 on a CPU is refused."""

    def run(name: str, **kw) -> tuple[dict[str, torch.Tensor], float]:
        logs: list[dict] = []
        config = _config(manifest, tmp_path / name, every=2, **kw)
        result = train_adgen(config, on_log=logs.append)
        return _weights(result.checkpoint), float(logs[0]["loss"])

    (plain, loss), (bf16, loss_bf16) = run("fp32"), run("bf16", mixed_precision="bf16")
    nhwc, loss_nhwc = run("nhwc", channels_last=True)
    assert list(plain) == list(bf16) == list(nhwc)
    assert all(v.dtype == torch.float32 for v in bf16.values())
    assert 1e-5 < abs(loss_bf16 - loss) / loss < 5e-2, (loss, loss_bf16)
    assert abs(loss_nhwc - loss) / loss < 1e-5
    conv = nhwc["unet.conv_in.weight"]
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    assert plain["unet.conv_in.weight"].is_contiguous()
    assert max(_max(plain[n], nhwc[n]) for n in plain) < 1e-5
    with pytest.raises(InputError, match="fp16 needs a CUDA device"):
        _config(manifest, tmp_path / "fp16", mixed_precision="fp16")


def test_resume_says_when_a_speed_setting_changes(manifest: Path, tmp_path: Path, caplog):
    """Precision and memory layout may change on resume (they change rounding, not the model),
    and the log says from which step."""
    train_adgen(_config(manifest, tmp_path / "run", steps=1, every=5))
    with caplog.at_level("WARNING", logger="adstage.train.adgen"):
        resumed = train_adgen(
            _config(manifest, tmp_path / "run", mixed_precision="bf16", channels_last=True),
            resume=True,
        )
    assert resumed.step == 2
    said = [r.getMessage() for r in caplog.records if "from here on" in r.getMessage()]
    assert said == [
        "resume: mixed_precision was 'no' until step 1, 'bf16' from here on",
        "resume: channels_last was False until step 1, True from here on",
    ]
    assert read_checkpoint(resumed.checkpoint)["config"]["channels_last"] is True


def test_a_tiny_model_learns_v_and_says_so(manifest: Path, tmp_path: Path):
    """auto: a tiny model trains with v-prediction, recorded for the pipeline; epsilon when
    asked; anything else is refused."""
    v = train_adgen(_config(manifest, tmp_path / "v", steps=1))
    assert read_metadata(v.final)["prediction_type"] == "v_prediction"
    eps = train_adgen(_config(manifest, tmp_path / "eps", steps=1, prediction="epsilon"))
    assert read_metadata(eps.final)["prediction_type"] == "epsilon"
    with pytest.raises(InputError, match="prediction: expected auto or one of epsilon"):
        AdGenConfig(data=str(manifest), out=str(tmp_path), steps=1, prediction="x0")


def test_the_papers_ablations_without_mask_and_without_augmentation(manifest: Path, tmp_path: Path):
    """--no-mask-input trains a 4-channel (pixel space: 3-channel) Generation U-Net and the
    final model keeps it; --originals-only keeps variant 0 rows and needs a variant column."""
    result = train_adgen(_config(manifest, tmp_path / "nomask", steps=1, mask_input=False))
    model = load_refadgen(result.final)
    assert model.mask_channels == 0
    assert model.unet.conv_in.in_channels == model.ref_unet.conv_in.in_channels == 3

    with open(manifest, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    variants = manifest.parent / "with-variants.csv"  # beside the files it names
    with open(variants, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, [*rows[0], "variant"])
        writer.writeheader()
        for i, row in enumerate(rows):
            writer.writerow({**row, "variant": i % 2})
    kept, _ = read_manifest(variants, originals_only=True)
    every, _ = read_manifest(variants)
    assert {item.row for item in kept} == {i for i in range(len(rows)) if i % 2 == 0} & {
        item.row for item in every
    }
    with pytest.raises(InputError, match="no 'variant' column"):
        read_manifest(manifest, originals_only=True)
