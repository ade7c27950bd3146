"""RefAdGen's dual U-Net against the released implementation (parity tensors) and its own
invariants (λ = 0 is plain attention; the widened U-Net equals the base at initialisation)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

import refadgen_parity as parity  # noqa: E402
from adstage.errors import InputError  # noqa: E402
from adstage.generate.refadgen import RefAdGen, ResamplerConfig, build  # noqa: E402
from adstage.generate.sampling import inference_scheduler, mask_to_latent, sample  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _max_diff(a, b) -> float:
    return float((a - b).abs().max())


def test_state_dict_layout_is_the_releases():
    """Same keys in the same order (aliases included), same trainable names in optimizer order."""
    m = build(parity.config()["unet_config_requested"], parity.resampler_config())
    assert list(m.state_dict()) == parity.config()["state_dict_key_order"]
    official = (parity.PARITY / "trainable_parameters.txt").read_text().split()
    assert [name for name, _ in m.trainable_parameters()] == official
    numel = sum(p.numel() for _, p in m.trainable_parameters())
    assert numel == parity.config()["training"]["trainable_numel"]
    # the fusion weights are one tensor under two names, as released
    sd = m.state_dict()
    alias = "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.processor.to_k_ref.weight"
    assert sd[alias].data_ptr() == sd["adapter_modules.0.to_k_ref.weight"].data_ptr()


@pytest.mark.parametrize("scale", [1.0, 0.0, 0.5])
def test_forward_matches_the_release(scale):
    m, inputs, outputs = parity.model(), parity.tensors("inputs"), parity.tensors("outputs")
    m.set_fusion_scale(scale)
    with torch.no_grad():
        pred = m(
            inputs["forward.encoder_hidden_states"],
            inputs["forward.latents_5ch"],
            inputs["forward.ref_latents"],
            inputs["forward.clip_image_embeddings"],
            inputs["forward.timesteps"],
        )
    assert _max_diff(pred, outputs[f"forward.noise_pred.scale_{scale}"]) <= parity.atol(
        "forward.noise_pred.*"
    )


def test_resampler_and_reference_cache_match_the_release():
    m, inputs, outputs = parity.model(), parity.tensors("inputs"), parity.tensors("outputs")
    tol = parity.atol("forward.proj_out / forward.ref_cache.*")
    with torch.no_grad():
        context = m.proj(inputs["forward.clip_image_embeddings"])
        cache = m.reference(inputs["forward.ref_latents"], context)
    assert _max_diff(context, outputs["forward.proj_out"]) <= tol
    cached = [k.removeprefix("forward.ref_cache.") for k in outputs if "ref_cache" in k]
    assert len(cached) == 4
    for name in cached:
        assert _max_diff(cache[name], outputs[f"forward.ref_cache.{name}"]) <= tol


def test_guided_sampling_matches_the_release():
    """Three DDIM steps with guidance 7.5: the U-Net inputs and outputs, the guided noise and the
    latents after every step, and the scheduler's timesteps."""
    m, inputs, outputs = parity.model(), parity.tensors("inputs"), parity.tensors("outputs")
    scheduler = inference_scheduler()
    mask = mask_to_latent(inputs["sample.mask_pixels"], (16, 16))
    assert torch.equal(mask, inputs["sample.mask_latent"])
    seen: list[int] = []
    noise_tol = parity.atol("sample.guided_noise_pred_step* / sample.unet_output_step*")
    latent_tol = parity.atol("sample.latents_after_step* / sample.final_latents")

    def check(i, t, latents, record):
        seen.append(t)
        assert _max_diff(record["unet_input"], outputs[f"sample.unet_input_step{i}"]) <= latent_tol
        out = outputs[f"sample.unet_output_step{i}"]
        assert _max_diff(record["unet_output"], out) <= noise_tol
        guided = outputs[f"sample.guided_noise_pred_step{i}"]
        assert _max_diff(record["guided"], guided) <= noise_tol
        assert _max_diff(latents, outputs[f"sample.latents_after_step{i}"]) <= latent_tol

    calls = []
    m.ref_unet.register_forward_hook(lambda mod, args, out: calls.append(args))
    with torch.no_grad():
        uncond = m.proj(inputs["sample.zeros_image_embeds"])
        cond = m.proj(inputs["sample.product_image_embeds"])
        final = sample(
            m,
            latents=inputs["sample.initial_latents"] * scheduler.init_noise_sigma,
            mask=mask,
            ref_latents=inputs["sample.ref_latents"],
            text=(inputs["sample.negative_prompt_embeds"], inputs["sample.prompt_embeds"]),
            reference_context=(uncond, cond),
            steps=3,
            guidance=7.5,
            scheduler=scheduler,
            on_step=check,
        )
    assert seen == outputs["sample.timesteps"].tolist()
    assert len(calls) == 1  # the Reference U-Net ran once, before the first step
    assert torch.equal(calls[0][0], outputs["sample.ref_unet_input"])
    assert _max_diff(final, outputs["sample.final_latents"]) <= latent_tol


def _tiny_unet(seed: int = 0):
    from diffusers import UNet2DConditionModel

    torch.manual_seed(seed)
    return UNet2DConditionModel(**parity.TINY_UNET).eval()


def test_zero_fusion_scale_is_plain_self_attention_exactly():
    """λ = 0: the Generation U-Net equals the base U-Net (with the mask channel) bit for bit,
    whatever the reference features are."""
    base = _tiny_unet()
    m = RefAdGen.from_unet(_tiny_unet(), resampler=None)
    with torch.no_grad():  # make the mask channel and the reference path matter
        m.unet.conv_in.weight[:, 4].normal_()
        for f in m.fusion_modules():
            f.to_k_ref.weight.normal_()
    widened = m.unet.conv_in
    x = torch.randn(2, 5, 16, 16)
    text = torch.randn(2, 7, 32)
    t = torch.tensor([10, 700])
    m.set_fusion_scale(0.0)
    with torch.no_grad():
        cache = m.reference(torch.randn(2, 4, 16, 16), text)
        fused = m.denoise(x, t, text, cache)
        base.conv_in = widened
        plain = base(x, t, encoder_hidden_states=text).sample
        m.set_fusion_scale(1.0)
        different = m.denoise(x, t, text, cache)
    assert torch.equal(fused, plain)
    assert not torch.allclose(different, plain)


def test_the_widened_unet_equals_the_base_at_initialisation():
    """A zero mask channel and to_k_ref/to_v_ref copied from to_k/to_v: with the reference
    being the same latent at the same t, nothing changes but the mask channel is ignored."""
    base = _tiny_unet()
    m = RefAdGen.from_unet(_tiny_unet(), resampler=None)
    x = torch.randn(2, 4, 16, 16)
    text = torch.randn(2, 7, 32)
    t = torch.tensor([3, 900])
    mask = (torch.rand(2, 1, 16, 16) > 0.5).float()
    with torch.no_grad():
        plain = base(x, t, encoder_hidden_states=text).sample
        m.set_fusion_scale(0.0)
        widened = m.denoise(torch.cat([x, mask], 1), t, text, {})
    assert torch.equal(widened, plain)
    for f in m.fusion_modules():
        layer = m.unet.get_submodule(f.name.removesuffix(".processor"))
        assert torch.equal(f.to_k_ref.weight, layer.to_k.weight)
        assert torch.equal(f.to_v_ref.weight, layer.to_v.weight)


def test_text_fallback_and_clear_errors():
    m = RefAdGen.from_unet(_tiny_unet(), resampler=None)
    assert m.context == "text" and m.proj is None
    text = torch.randn(1, 7, 32)
    assert m.reference_context(None, text) is text
    with pytest.raises(InputError, match="fusion_scale"):
        m.set_fusion_scale(-1.0)
    with_proj = RefAdGen.from_unet(
        _tiny_unet(), resampler=ResamplerConfig.for_unet(32, image_hidden_size=48)
    )
    assert with_proj.context == "clip-resampler"
    with pytest.raises(InputError, match="image embeddings"):
        with_proj.reference_context(None, text)
    with torch.no_grad():
        cache = m.reference(torch.randn(1, 4, 16, 16), text)
        with pytest.raises(InputError, match="batch"):
            m.denoise(torch.randn(2, 5, 16, 16), torch.tensor([1, 1]), torch.randn(2, 7, 32), cache)


def test_without_the_mask_channel_the_unet_keeps_the_base_input():
    """mask_channels=0: the paper's "without masks" ablation; the model input is the latents
    alone and conv_in keeps the base's 4 channels."""

    m = RefAdGen.from_unet(_tiny_unet(), resampler=None, mask_channels=0)
    assert m.mask_channels == 0 and m.info.mask_channels == 0
    assert m.unet.conv_in.weight.shape[1] == 4
    x, mask = torch.randn(1, 4, 16, 16), torch.ones(1, 1, 16, 16)
    assert m.model_input(x, mask) is x
    released = RefAdGen.from_unet(_tiny_unet(), resampler=None)
    assert released.mask_channels == 1 and released.model_input(x, mask).shape[1] == 5
    with pytest.raises(InputError, match="mask_channels"):
        RefAdGen.from_unet(_tiny_unet(), resampler=None, mask_channels=2)


def test_a_maskless_checkpoint_round_trips(tmp_path):
    from adstage.generate.checkpoints import load_refadgen, save_refadgen

    m = build(parity.TINY_UNET, None, mask_channels=0).eval()
    save_refadgen(m, tmp_path / "ckpt")
    back = load_refadgen(tmp_path / "ckpt")
    assert back.mask_channels == 0
    x, t, text = torch.randn(1, 4, 16, 16), torch.tensor([5]), torch.randn(1, 7, 32)
    with torch.no_grad():
        cache = m.reference(x, text)
        a = m.denoise(x, t, text, cache)
        b = back.denoise(x, t, text, back.reference(x, text))
    assert torch.equal(a, b)
