"""RefAdGen's dual U-Net: a Reference U-Net, a Generation U-Net and the Attention Fusion Module.

Chen & Yang, "RefAdGen: High-Fidelity Advertising Image Generation" (§3.2–3.3), as the public
code (github yunsoft2019/RefAdgen) behaves; ``../shared/REFERENCES.md`` §2 records the facts and
``tests/generate/test_refadgen_parity.py`` checks this module against tensors from that code.

- The **Reference U-Net** is a full copy of the base U-Net (trainable). Every attention processor
  caches its *input* hidden states (for ``attn1``: the transformer block's ``norm1`` output). It
  runs once, at timestep 0, on the clean product latent; its output is discarded.
- The **Generation U-Net** is the base U-Net, frozen except ``conv_in``, widened to take the
  product mask as one more input channel (zero-initialised, so the model equals the base at
  initialisation), and the fusion projections.
- The **Attention Fusion Module** replaces every self-attention (``attn1``) of the Generation
  U-Net: ``O = softmax(QKᵀ/√d)V + λ·softmax(QK_refᵀ/√d)V_ref`` with ``K_ref = to_k_ref(cache)``,
  ``V_ref = to_v_ref(cache)`` (bias-free, initialised from the layer's own ``to_k``/``to_v``),
  two separate softmaxes over the same heads, summed before the frozen ``to_out``. Layer *i*
  reads the cache of the Reference U-Net's same-named layer.
- The Reference U-Net's cross-attention context is an IP-Adapter-Plus **Resampler** (Ye et al.
  2023, "IP-Adapter", §3.2; a Perceiver resampler after Alayrac et al. 2022, "Flamingo") over
  CLIP image hidden states. Without an image encoder the documented fallback is the prompt's
  text embeddings (:data:`CONTEXT_TEXT`), named in every result's provenance.

The state dict has the released layout: ``unet.*``, ``ref_unet.*``, ``proj.*`` and
``adapter_modules.<i>.*``, where ``adapter_modules`` lists every processor of the Generation U-Net
in diffusers order (odd indices are the parameter-free cross-attention processors), so the fusion
weights appear twice, as the same tensors.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from diffusers import UNet2DConditionModel
from diffusers.models.attention_processor import Attention
from torch import nn

from adstage.errors import InputError

log = logging.getLogger(__name__)

CONTEXT_RESAMPLER = "clip-resampler"
"""The Reference U-Net's context as released: Resampler(CLIP image hidden states[-2])."""
CONTEXT_TEXT = "text"
"""The fallback without an image encoder: the prompt's text embeddings (negative prompt in the
unconditional half), the same context the Generation U-Net sees."""


# --- The Resampler (IP-Adapter-Plus image projection) ----------------------------------------


@dataclass(frozen=True)
class ResamplerConfig:
    """The Resampler's shape. SD-1.5 with CLIP ViT-H/14 as released: ``dim=768``,
    ``embedding_dim=1280``, ``output_dim=768``; the rest are the IP-Adapter-Plus defaults."""

    dim: int = 768
    depth: int = 4
    dim_head: int = 64
    heads: int = 12
    num_queries: int = 16
    embedding_dim: int = 1280
    output_dim: int = 768
    ff_mult: int = 4

    @classmethod
    def for_unet(cls, cross_attention_dim: int, image_hidden_size: int) -> ResamplerConfig:
        """The release's choice: ``dim`` and ``output_dim`` = the U-Net's cross-attention width,
        ``embedding_dim`` = the image encoder's hidden size."""
        return cls(
            dim=cross_attention_dim,
            embedding_dim=image_hidden_size,
            output_dim=cross_attention_dim,
        )


def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """``[B, L, heads·d]`` → ``[B, heads, L, d]``, contiguous (the release's summation order)."""
    b, n, _ = x.shape
    return x.view(b, n, heads, -1).transpose(1, 2).reshape(b, heads, n, -1)


class PerceiverAttention(nn.Module):
    """The queries attend to ``cat([image tokens, queries])`` (Flamingo's Perceiver resampler)."""

    def __init__(self, dim: int, dim_head: int, heads: int) -> None:
        super().__init__()
        inner = dim_head * heads
        self.heads, self.dim_head = heads, dim_head
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim, inner * 2, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)

    def forward(self, x: torch.Tensor, queries: torch.Tensor) -> torch.Tensor:
        x, queries = self.norm1(x), self.norm2(queries)
        b, n, _ = queries.shape
        q = _heads(self.to_q(queries), self.heads)
        k, v = self.to_kv(torch.cat([x, queries], dim=-2)).chunk(2, dim=-1)
        k, v = _heads(k, self.heads), _heads(v, self.heads)
        scale = self.dim_head**-0.25  # on q and k each: more stable in fp16 than 1/√d after
        weight = (q * scale) @ (k * scale).transpose(-2, -1)
        weight = torch.softmax(weight.float(), dim=-1).type(weight.dtype)
        out = (weight @ v).permute(0, 2, 1, 3).reshape(b, n, -1)
        return self.to_out(out)


def _feed_forward(dim: int, mult: int) -> nn.Sequential:
    inner = dim * mult
    return nn.Sequential(
        nn.LayerNorm(dim),
        nn.Linear(dim, inner, bias=False),
        nn.GELU(),
        nn.Linear(inner, dim, bias=False),
    )


class Resampler(nn.Module):
    """Image hidden states ``[B, T, embedding_dim]`` → ``num_queries`` context tokens
    ``[B, num_queries, output_dim]`` (IP-Adapter-Plus, Ye et al. 2023)."""

    def __init__(self, config: ResamplerConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.latents = nn.Parameter(torch.randn(1, c.num_queries, c.dim) / c.dim**0.5)
        self.proj_in = nn.Linear(c.embedding_dim, c.dim)
        self.proj_out = nn.Linear(c.dim, c.output_dim)
        self.norm_out = nn.LayerNorm(c.output_dim)
        self.layers = nn.ModuleList(
            nn.ModuleList(
                [PerceiverAttention(c.dim, c.dim_head, c.heads), _feed_forward(c.dim, c.ff_mult)]
            )
            for _ in range(c.depth)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        queries = self.latents.repeat(x.size(0), 1, 1)
        x = self.proj_in(x)
        for layer in self.layers:
            attn, ff = layer[0], layer[1]  # type: ignore[index]
            queries = attn(x, queries) + queries
            queries = ff(queries) + queries
        return self.norm_out(self.proj_out(queries))


# --- Attention processors ---------------------------------------------------------------------


def _attention(attn: Attention, q_in: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> Any:
    """Multi-head SDPA of projected ``q_in`` against projected ``k``/``v`` (``[B, L, C]``), heads
    merged back: the arithmetic of diffusers' ``AttnProcessor2_0``, default ``1/√d`` scale."""
    b = q_in.shape[0]
    head_dim = k.shape[-1] // attn.heads
    q = q_in.view(b, -1, attn.heads, head_dim).transpose(1, 2)
    k = k.view(b, -1, attn.heads, head_dim).transpose(1, 2)
    v = v.view(b, -1, attn.heads, head_dim).transpose(1, 2)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False)
    return out.transpose(1, 2).reshape(b, -1, attn.heads * head_dim).to(q.dtype)


def _check_plain(attn: Attention, hidden_states: torch.Tensor) -> None:
    """The processors below implement SD-1.5's attention: ``[B, L, C]`` tokens, no masks, no
    spatial/group/q/k norms, no residual inside the attention."""
    if hidden_states.ndim != 3 or attn.spatial_norm is not None or attn.group_norm is not None:
        raise InputError("RefAdGen: expected SD-1.5 transformer attention on [B, L, C] tokens")
    if attn.norm_q is not None or attn.norm_k is not None or attn.residual_connection:
        raise InputError("RefAdGen: attention with q/k norms or a residual is not SD-1.5's")


class PlainAttention(nn.Module):
    """Ordinary attention (diffusers' ``AttnProcessor2_0`` arithmetic) as a parameter-free module,
    so the Generation U-Net's cross-attention processors take their places in
    ``adapter_modules`` as released. Accepts and ignores the reference cache."""

    def __call__(
        self,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        sa_hidden_states: dict[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        if attention_mask is not None:
            raise InputError("RefAdGen: attention masks are not supported")
        _check_plain(attn, hidden_states)
        context = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        if encoder_hidden_states is not None and attn.norm_cross:
            context = attn.norm_encoder_hidden_states(context)
        out = _attention(attn, attn.to_q(hidden_states), attn.to_k(context), attn.to_v(context))
        out = attn.to_out[1](attn.to_out[0](out))
        return out / attn.rescale_output_factor


class CachingAttention(PlainAttention):
    """A Reference U-Net processor: ordinary attention that records its *input* hidden states in
    ``cache[name]`` (for ``attn1``: the transformer block's ``norm1`` output)."""

    def __init__(self, name: str, cache: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self.name = name
        self.cache = cache

    def __call__(
        self,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        sa_hidden_states: dict[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        self.cache[self.name] = hidden_states
        return super().__call__(attn, hidden_states, encoder_hidden_states, attention_mask)


class FusionAttention(nn.Module):
    """The Attention Fusion Module on one self-attention layer of the Generation U-Net.

    ``self_out + scale·ref_out`` before the frozen ``to_out``, where ``ref_out`` attends the same
    queries to ``to_k_ref``/``to_v_ref`` of the reference cache entry named ``name``. With
    ``scale == 0`` (or no cache) the output equals plain self-attention exactly.
    """

    def __init__(self, name: str, hidden_size: int, scale: float = 1.0) -> None:
        super().__init__()
        self.name = name
        self.scale = scale
        self.to_k_ref = nn.Linear(hidden_size, hidden_size, bias=False)
        self.to_v_ref = nn.Linear(hidden_size, hidden_size, bias=False)

    def __call__(
        self,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        sa_hidden_states: dict[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        if attention_mask is not None or encoder_hidden_states is not None:
            raise InputError("RefAdGen: the fusion module replaces self-attention only")
        _check_plain(attn, hidden_states)
        query = attn.to_q(hidden_states)
        out = _attention(attn, query, attn.to_k(hidden_states), attn.to_v(hidden_states))
        if sa_hidden_states is not None and self.scale != 0:
            cache = sa_hidden_states.get(self.name)
            if cache is None:
                raise InputError(f"RefAdGen: no reference features for {self.name}")
            if cache.shape[0] != hidden_states.shape[0]:
                raise InputError(
                    f"RefAdGen: reference features of batch {cache.shape[0]} for a batch of "
                    f"{hidden_states.shape[0]} at {self.name}"
                )
            ref = _attention(attn, query, self.to_k_ref(cache), self.to_v_ref(cache))
            out = out + self.scale * ref
        out = attn.to_out[1](attn.to_out[0](out))
        return out / attn.rescale_output_factor


# --- The dual U-Net ---------------------------------------------------------------------------


def widen_conv_in(unet: UNet2DConditionModel, extra: int = 1) -> None:
    """Give ``unet.conv_in`` ``extra`` more input channels, zero-initialised (the base's channels
    and bias copied), so the widened U-Net equals the base when the extra channels are fed."""
    old = unet.conv_in
    new = nn.Conv2d(
        old.in_channels + extra,
        old.out_channels,
        kernel_size=old.kernel_size,
        stride=old.stride,
        padding=old.padding,
    ).to(device=old.weight.device, dtype=old.weight.dtype)
    with torch.no_grad():
        new.weight.zero_()
        new.weight[:, : old.in_channels] = old.weight
        assert old.bias is not None and new.bias is not None
        new.bias.copy_(old.bias)
    unet.conv_in = new


@dataclass(frozen=True)
class ModelInfo:
    """What shapes a :class:`RefAdGen` beyond its U-Net config: written beside its weights."""

    unet_config: dict[str, Any]
    resampler: dict[str, Any] | None
    mask_channels: int = 1

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class RefAdGen(nn.Module):
    """The dual U-Net. Build with :meth:`from_unet`; submodules are registered as released:
    ``unet`` (Generation), ``ref_unet`` (Reference), ``proj`` (Resampler, absent without an
    image encoder) and ``adapter_modules``."""

    unet: UNet2DConditionModel
    ref_unet: UNet2DConditionModel
    proj: Resampler | None
    adapter_modules: nn.ModuleList

    def __init__(
        self,
        unet: UNet2DConditionModel,
        ref_unet: UNet2DConditionModel,
        proj: Resampler | None,
    ) -> None:
        super().__init__()
        self._cache: dict[str, torch.Tensor] = {}
        self.unet = unet
        self.ref_unet = ref_unet
        self.proj = proj
        self.adapter_modules = nn.ModuleList(unet.attn_processors.values())

    @classmethod
    def from_unet(
        cls,
        base: UNet2DConditionModel,
        *,
        resampler: ResamplerConfig | None = None,
        fusion_scale: float = 1.0,
        mask_channels: int = 1,
    ) -> RefAdGen:
        """Turn a base U-Net (taken over, not copied) into the dual U-Net, as the release does:
        the Reference U-Net a copy of the base with caching processors, the Generation U-Net the
        base with a zero mask channel and fusion modules whose ``to_k_ref``/``to_v_ref`` are
        copies of each layer's ``to_k``/``to_v``. ``resampler=None``: no Resampler, the text
        fallback (:data:`CONTEXT_TEXT`). ``mask_channels=0``: no mask input (the paper's
        "without masks" ablation, §4.4); 1 as released."""
        if mask_channels not in (0, 1):
            raise InputError(f"mask_channels: expected 0 or 1, got {mask_channels!r}")
        ref_unet = copy.deepcopy(base)
        cache: dict[str, torch.Tensor] = {}
        ref_unet.set_attn_processor(
            {name: CachingAttention(name, cache) for name in ref_unet.attn_processors}
        )
        if mask_channels:
            widen_conv_in(base, mask_channels)
        processors: dict[str, Any] = {}
        for name in base.attn_processors:
            if name.endswith("attn1.processor"):
                layer = base.get_submodule(name.removesuffix(".processor"))
                assert isinstance(layer, Attention)
                fusion = FusionAttention(name, layer.to_k.in_features, fusion_scale)
                with torch.no_grad():
                    fusion.to_k_ref.weight.copy_(layer.to_k.weight)
                    fusion.to_v_ref.weight.copy_(layer.to_v.weight)
                processors[name] = fusion.to(layer.to_k.weight)
            else:
                processors[name] = PlainAttention()
        base.set_attn_processor(processors)
        proj = None if resampler is None else Resampler(resampler).to(base.conv_in.weight)
        model = cls(base, ref_unet, proj)
        model._cache = cache
        return model

    # -- what it is ------------------------------------------------------------------------

    @property
    def context(self) -> str:
        """What conditions the Reference U-Net: :data:`CONTEXT_RESAMPLER` or :data:`CONTEXT_TEXT`."""
        return CONTEXT_TEXT if self.proj is None else CONTEXT_RESAMPLER

    @property
    def mask_channels(self) -> int:
        """Input channels the Generation U-Net has beyond the latents: 1 (the mask) or 0."""
        return int(self.unet.conv_in.in_channels - self.ref_unet.conv_in.in_channels)

    @property
    def info(self) -> ModelInfo:
        config = {k: v for k, v in dict(self.ref_unet.config).items() if not k.startswith("_")}
        resampler = None if self.proj is None else asdict(self.proj.config)
        return ModelInfo(unet_config=config, resampler=resampler, mask_channels=self.mask_channels)

    def model_input(self, latents: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The Generation U-Net's input: ``cat([latents, mask], 1)`` as released, or the latents
        alone for a model without a mask channel."""
        return torch.cat([latents, mask], dim=1) if self.mask_channels else latents

    def fusion_modules(self) -> list[FusionAttention]:
        return [m for m in self.adapter_modules if isinstance(m, FusionAttention)]

    @property
    def fusion_scale(self) -> float:
        scales = {m.scale for m in self.fusion_modules()}
        return scales.pop() if len(scales) == 1 else float("nan")

    def set_fusion_scale(self, scale: float) -> None:
        """λ of every fusion layer (1.0 as released; the paper finds λ ≥ 0.7 stable)."""
        if not scale >= 0:
            raise InputError(f"fusion_scale: expected a number ≥ 0, got {scale!r}")
        for module in self.fusion_modules():
            module.scale = float(scale)

    # -- training ----------------------------------------------------------------------------

    def trainable_parameters(self) -> Iterator[tuple[str, nn.Parameter]]:
        """The released trainable set, in the released optimizer order and with its names:
        ``proj.*``, all of ``ref_unet.*``, ``adapter_modules.*`` (the fusion projections) and
        ``unet.conv_in.*``."""
        groups: list[tuple[str, nn.Module | None]] = [
            ("proj", self.proj),
            ("ref_unet", self.ref_unet),
            ("adapter_modules", self.adapter_modules),
            ("unet.conv_in", self.unet.conv_in),
        ]
        for prefix, module in groups:
            if module is not None:
                for name, param in module.named_parameters():
                    yield f"{prefix}.{name}", param

    def set_trainable(self) -> None:
        """Freeze everything but :meth:`trainable_parameters`."""
        self.requires_grad_(False)
        for _, param in self.trainable_parameters():
            param.requires_grad_(True)

    # -- running -----------------------------------------------------------------------------

    def reference_context(
        self, image_embeds: torch.Tensor | None, text_embeds: torch.Tensor | None
    ) -> torch.Tensor:
        """The Reference U-Net's cross-attention context: ``proj(image_embeds)`` with a
        Resampler, else ``text_embeds`` (the fallback)."""
        if self.proj is not None:
            if image_embeds is None:
                raise InputError("RefAdGen: this model's Resampler needs CLIP image embeddings")
            return self.proj(image_embeds)
        if text_embeds is None:
            raise InputError("RefAdGen: without a Resampler the reference context is the text")
        return text_embeds

    def reference(
        self, ref_latents: torch.Tensor, context: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Run the Reference U-Net at t = 0 on the clean product latents and return its cache
        (processor name → input hidden states)."""
        self._cache.clear()
        t = torch.zeros(ref_latents.shape[0], dtype=torch.long, device=ref_latents.device)
        self.ref_unet(ref_latents, t, encoder_hidden_states=context)
        cache = dict(self._cache)
        self._cache.clear()
        return cache

    def denoise(
        self,
        latents_with_mask: torch.Tensor,
        timesteps: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        cache: dict[str, torch.Tensor] | None,
    ) -> torch.Tensor:
        """The Generation U-Net's ε prediction; ``cache`` from :meth:`reference` (None: no
        fusion, the base U-Net with a mask channel)."""
        kwargs = None if cache is None else {"sa_hidden_states": cache}
        out = self.unet(
            latents_with_mask,
            timesteps,
            encoder_hidden_states=encoder_hidden_states,
            cross_attention_kwargs=kwargs,
        )
        return out.sample

    def forward(
        self,
        encoder_hidden_states: torch.Tensor,
        latents_with_mask: torch.Tensor,
        ref_latents: torch.Tensor,
        image_embeds: torch.Tensor | None,
        timesteps: torch.Tensor,
    ) -> torch.Tensor:
        """One training/evaluation forward, argument order as released: the reference pass at
        t = 0 (with gradients when training), then the Generation U-Net at ``timesteps``."""
        context = self.reference_context(image_embeds, encoder_hidden_states)
        cache = self.reference(ref_latents, context)
        return self.denoise(latents_with_mask, timesteps, encoder_hidden_states, cache)


def build(
    unet_config: dict[str, Any],
    resampler: dict[str, Any] | None,
    *,
    fusion_scale: float = 1.0,
    mask_channels: int = 1,
) -> RefAdGen:
    """A randomly initialised :class:`RefAdGen` from a U-Net config (diffusers'
    ``UNet2DConditionModel`` keys, with the base's ``in_channels``), a Resampler config and the
    number of mask channels (1 as released, 0 for the "without masks" ablation)."""
    config = {k: v for k, v in unet_config.items() if not k.startswith("_")}
    base = UNet2DConditionModel(**config)
    return RefAdGen.from_unet(
        base,
        resampler=None if resampler is None else ResamplerConfig(**resampler),
        fusion_scale=fusion_scale,
        mask_channels=mask_channels,
    )
