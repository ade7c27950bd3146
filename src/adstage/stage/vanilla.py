"""Vanilla staging: a pix2pix conditional GAN generates the whole scene around the product.

Isola et al., "Image-to-Image Translation with Conditional Adversarial Networks", CVPR 2017:
a U-Net generator (§3.2.1, encoder-decoder with skip connections between mirrored layers) and a
70×70 PatchGAN discriminator (§3.2.2, a convolutional classifier of overlapping 70×70 patches),
trained with the conditional GAN loss plus λ·L1, λ = 100 (§3.1, §4). Ku et al. (AdKDD 2023,
§5.2) use it as the "vanilla staging" baseline: the input is the segmented product on a blank
background, the target the staged photo, and every background pixel is generated. That is why it
scores far worse than copy-paste staging (FID 122–128 against 37–38 in their Table 3).

Differences from the paper, so that a CPU-sized model exists and trains with batches > 1:

* the width is ``ngf`` (the paper's 64) and the depth follows the input: ``log2(size)``
  down-sampling layers, so the bottleneck is 1×1 at every size (8 layers at 256, as in the paper);
  channels are ``ngf · min(2^i, 8)``;
* instance normalisation instead of batch normalisation (the paper's batch size 1 makes batch
  norm an instance norm; this keeps that behaviour for any batch size, and eval = train);
* dropout (0.5 in the first three decoder layers) is off at inference (``eval()``), so staging is
  deterministic; the paper keeps it on as the noise source;
* optional spectral normalisation (Miyato et al., ICLR 2018) in the discriminator.

Images inside the networks are ``float32`` ``N×3×H×W`` in ``[-1, 1]``; at this module's public
functions they are ``H×W×3`` ``uint8`` RGB. torch is imported only here and in ``adstage.train``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from adstage.errors import InputError
from adstage.io.checkpoints import read_checkpoint as _read_checkpoint
from adstage.types import RGB, as_alpha, as_rgb

log = logging.getLogger(__name__)


DEFAULT_LAYOUT = {"cx": 0.5, "cy": 0.6, "side": 0.45}
"""Where the product goes on the blank canvas, as fractions of the canvas: box centre ``(cx,
cy)`` and ``side`` = ``sqrt(box width × box height)``. Training replaces it by the medians of its
training pairs (stored in the checkpoint's config as ``layout``)."""


def check_size(size: Any, *, name: str = "size") -> int:
    """``size`` must be a power of two >= 32 (the U-Net halves it down to 1×1)."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 32 or size & (size - 1):
        raise InputError(f"{name}: expected a power of two >= 32 (32, 64, 128, 256…), got {size!r}")
    return size


# --------------------------------------------------------------------------------------------
# networks


class _Down(nn.Sequential):
    """Encoder layer C_k: LeakyReLU(0.2) → conv 4×4 stride 2 → instance norm (not the first)."""

    def __init__(self, cin: int, cout: int, *, outermost: bool, innermost: bool) -> None:
        layers: list[nn.Module] = [] if outermost else [nn.LeakyReLU(0.2)]
        layers.append(nn.Conv2d(cin, cout, 4, 2, 1, bias=outermost or innermost))
        if not (outermost or innermost):  # no norm on the input layer nor on the 1×1 bottleneck
            layers.append(nn.InstanceNorm2d(cout))
        super().__init__(*layers)


class _Up(nn.Sequential):
    """Decoder layer CD_k: ReLU → transposed conv 4×4 stride 2 → instance norm → dropout."""

    def __init__(self, cin: int, cout: int, *, outermost: bool, dropout: bool) -> None:
        layers: list[nn.Module] = [
            nn.ReLU(),
            nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=outermost),
        ]
        if outermost:
            layers.append(nn.Tanh())
        else:
            layers.append(nn.InstanceNorm2d(cout))
            if dropout:
                layers.append(nn.Dropout(0.5))
        super().__init__(*layers)


class UNetGenerator(nn.Module):
    """pix2pix U-Net (Isola et al. 2017, §3.2.1 and appendix 6.1.1) for ``size``×``size`` inputs.

    Encoder ``C64-C128-C256-C512-C512-…`` (with ``ngf`` = 64) down to 1×1; the decoder mirrors it
    and each decoder layer's input is its predecessor's output concatenated with the mirrored
    encoder layer's output. Input and output: ``N×3×size×size`` in ``[-1, 1]``.
    """

    def __init__(self, *, size: int = 256, ngf: int = 64, in_channels: int = 3) -> None:
        super().__init__()
        check_size(size)
        if isinstance(ngf, bool) or not isinstance(ngf, int) or ngf < 1:
            raise InputError(f"ngf: expected a positive integer, got {ngf!r}")
        depth = size.bit_length() - 1  # log2(size): halve down to 1×1
        widths = [ngf * min(2**i, 8) for i in range(depth)]
        self.size, self.ngf, self.depth = size, ngf, depth
        self.down = nn.ModuleList(
            _Down(
                in_channels if i == 0 else widths[i - 1],
                widths[i],
                outermost=i == 0,
                innermost=i == depth - 1,
            )
            for i in range(depth)
        )
        # up[j] produces the resolution of down[depth-2-j]'s output; its input is the previous
        # decoder output concatenated with the skip (except the innermost, fed by the bottleneck).
        ups = []
        for j in range(depth):
            i = depth - 1 - j  # mirrored encoder layer
            cin = widths[i] if j == 0 else 2 * widths[i]
            cout = 3 if i == 0 else widths[i - 1]
            ups.append(_Up(cin, cout, outermost=i == 0, dropout=1 <= j <= 3 and i != 0))
        self.up = nn.ModuleList(ups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for layer in self.down:
            x = layer(x)
            skips.append(x)
        x = self.up[0](skips.pop())
        for layer in self.up[1:]:
            x = layer(torch.cat([x, skips.pop()], dim=1))
        return x


class PatchDiscriminator(nn.Module):
    """pix2pix PatchGAN (§3.2.2, appendix 6.1.2): ``C64-C128-C256-C512`` then a 1-channel conv.

    With ``n_layers`` = 3 (the default) each output value sees a 70×70 patch of the input (see
    :func:`receptive_field`). Input: the condition and an image, concatenated (``N×6×H×W``);
    output: one logit per patch. No norm on the first layer; ``spectral`` wraps every conv in
    spectral normalisation.
    """

    def __init__(
        self, *, ndf: int = 64, n_layers: int = 3, in_channels: int = 6, spectral: bool = False
    ) -> None:
        super().__init__()
        wrap = nn.utils.parametrizations.spectral_norm if spectral else (lambda m: m)
        layers: list[nn.Module] = [wrap(nn.Conv2d(in_channels, ndf, 4, 2, 1)), nn.LeakyReLU(0.2)]
        width = ndf
        for n in range(1, n_layers + 1):
            nxt = ndf * min(2**n, 8)
            stride = 2 if n < n_layers else 1
            layers += [
                wrap(nn.Conv2d(width, nxt, 4, stride, 1, bias=False)),
                nn.InstanceNorm2d(nxt),
                nn.LeakyReLU(0.2),
            ]
            width = nxt
        layers.append(wrap(nn.Conv2d(width, 1, 4, 1, 1)))
        self.net = nn.Sequential(*layers)
        self.n_layers, self.spectral = n_layers, spectral

    def forward(self, condition: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.net(torch.cat([condition, image], dim=1))
        return logits


def receptive_field(module: nn.Module) -> int:
    """Receptive field (pixels) of one output of a chain of convolutions, from the module's own
    ``Conv2d`` layers in order: ``1 + Σ (kernel − 1) · (product of the earlier strides)``."""
    rf, jump = 1, 1
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d):
            rf += (layer.kernel_size[0] - 1) * jump
            jump *= layer.stride[0]
    return rf


# --------------------------------------------------------------------------------------------
# tensors, checkpoints


def to_tensor(images: list[RGB] | RGB) -> torch.Tensor:
    """``uint8`` RGB image(s) → ``float32`` ``N×3×H×W`` in ``[-1, 1]``."""
    batch = np.stack(images) if isinstance(images, list) else np.asarray(images)[None]
    return torch.from_numpy(batch).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def to_images(x: torch.Tensor) -> list[RGB]:
    """``N×3×H×W`` in ``[-1, 1]`` → list of ``uint8`` RGB images."""
    y = ((x.detach().cpu().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    return [np.ascontiguousarray(a) for a in y.permute(0, 2, 3, 1).numpy()]


def read_checkpoint(path: str | Path, *, device: str = "cpu") -> dict[str, Any]:
    """The raw checkpoint dict of ``path`` (a file, or a training folder → its latest)."""
    return _read_checkpoint(
        path,
        kind="a pix2pix",
        keys=("generator", "config"),
        hint=" (train one first)",
        device=device,
    )


def load_checkpoint(
    path: str | Path, *, device: str = "cpu"
) -> tuple[UNetGenerator, dict[str, Any]]:
    """The generator (in ``eval()`` mode) and the checkpoint's metadata: ``config``, ``step``,
    ``seconds`` (training time) and ``path``. ``path`` may be a training folder (its latest)."""
    state = read_checkpoint(path, device=device)
    config = state["config"]
    generator = UNetGenerator(size=config["size"], ngf=config["ngf"]).to(device)
    generator.load_state_dict(state["generator"])
    generator.eval()
    meta = {
        "config": config,
        "step": int(state["step"]),
        "seconds": float(state.get("seconds", 0.0)),
        "path": state["path"],
    }
    return generator, meta


# --------------------------------------------------------------------------------------------
# staging


def on_white(image: RGB, alpha: NDArray[np.float32]) -> RGB:
    """The product's pixels over white: ``image · α + 255 · (1 − α)``."""
    a = alpha[..., None]
    return np.clip(np.rint(image * a + 255.0 * (1.0 - a)), 0, 255).astype(np.uint8)


def layout_canvas(
    product: Any, mask: Any, size: int, layout: dict[str, float] | None = None
) -> tuple[RGB, tuple[int, int, int, int]]:
    """Put the segmented product on a white ``size``×``size`` canvas at ``layout`` (see
    :data:`DEFAULT_LAYOUT`); return the canvas and the product's box ``(x0, y0, x1, y1)``."""
    image = as_rgb(product, name="product")
    alpha = as_alpha(mask, image.shape[:2], name="mask")
    lay = {**DEFAULT_LAYOUT, **(layout or {})}
    ys, xs = np.nonzero(alpha >= 0.5)
    if ys.size == 0:
        raise InputError("mask: empty (no product pixels to stage)")
    x0, x1, y0, y1 = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
    w, h = x1 - x0, y1 - y0
    scale = lay["side"] * size / np.sqrt(w * h)
    scale = min(scale, 0.95 * size / w, 0.95 * size / h)
    sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    rgb = np.asarray(cv2.resize(image[y0:y1, x0:x1], (sw, sh), interpolation=interp), np.uint8)
    a = cv2.resize(alpha[y0:y1, x0:x1], (sw, sh), interpolation=interp)
    bx = int(np.clip(round(lay["cx"] * size - sw / 2), 0, size - sw))
    by = int(np.clip(round(lay["cy"] * size - sh / 2), 0, size - sh))
    canvas = np.full((size, size, 3), 255, np.uint8)
    canvas[by : by + sh, bx : bx + sw] = on_white(rgb, np.clip(a, 0.0, 1.0))
    return canvas, (bx, by, bx + sw, by + sh)


@dataclass(frozen=True)
class VanillaStaged:
    """A pix2pix staging: ``image`` (RGB, ``size``²), the product's ``placement`` box in it, the
    white ``canvas`` the generator saw, ``seconds`` per step and ``provenance``."""

    image: RGB = field(repr=False)
    canvas: RGB = field(repr=False)
    placement: tuple[int, int, int, int]
    seconds: dict[str, float]
    provenance: dict[str, Any]


class VanillaStager:
    """A loaded pix2pix generator that stages products: ``VanillaStager(path)(product, mask)``."""

    def __init__(self, checkpoint: str | Path, *, device: str = "cpu") -> None:
        self.generator, self.meta = load_checkpoint(checkpoint, device=device)
        self.device = device
        self.size = int(self.meta["config"]["size"])
        self.layout = dict(self.meta["config"].get("layout") or DEFAULT_LAYOUT)

    def __call__(self, product: Any, mask: Any, *, size: int | None = None) -> VanillaStaged:
        t = time.perf_counter()
        canvas, box = layout_canvas(product, mask, self.size, self.layout)
        seconds = {"layout": time.perf_counter() - t}
        t = time.perf_counter()
        with torch.inference_mode():
            image = to_images(self.generator(to_tensor(canvas).to(self.device)))[0]
        seconds["generate"] = time.perf_counter() - t
        if size is not None and size != self.size:
            if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                raise InputError(f"size: expected a positive integer, got {size!r}")
            f = size / self.size
            image = np.asarray(
                cv2.resize(image, (size, size), interpolation=cv2.INTER_CUBIC), np.uint8
            )
            box = (round(box[0] * f), round(box[1] * f), round(box[2] * f), round(box[3] * f))
        return VanillaStaged(
            image=image,
            canvas=canvas,
            placement=box,
            seconds=seconds,
            provenance={
                "method": "vanilla",
                "model": "pix2pix (Isola et al. 2017)",
                "checkpoint": self.meta["path"],
                "step": self.meta["step"],
                "size": self.size,
                "ngf": self.meta["config"]["ngf"],
                "layout": self.layout,
            },
        )


def stage_vanilla(
    product_rgb: Any, mask: Any, checkpoint: str | Path, *, size: int | None = None
) -> RGB:
    """Stage one product with a trained pix2pix checkpoint and return the generated image
    (``size``² RGB; default the training size). See :class:`VanillaStager` to stage many."""
    return VanillaStager(checkpoint)(product_rgb, mask, size=size).image
