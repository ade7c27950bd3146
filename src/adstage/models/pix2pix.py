"""pix2pix: the U-Net generator, the PatchGAN discriminator, their tensors and checkpoints.

Isola, Zhu, Zhou and Efros, "Image-to-Image Translation with Conditional Adversarial Networks",
CVPR 2017: a U-Net generator (§3.2.1, encoder-decoder with skip connections between mirrored
layers) and a 70×70 PatchGAN discriminator (§3.2.2, a convolutional classifier of overlapping
70×70 patches), trained with the conditional GAN loss plus λ·L1, λ = 100 (§3.1, §4). Ku et al.
(AdKDD 2023, §5.2) use it as the "vanilla staging" baseline: the condition is the segmented
product on a blank (white) background (:func:`on_white`), the target the staged photo.

Differences from the paper, so that a CPU-sized model exists and trains with batches > 1:

* the width is ``ngf`` (the paper's 64) and the depth follows the input: ``log2(size)``
  down-sampling layers, so the bottleneck is 1×1 at every size (8 layers at 256, as in the paper);
  channels are ``ngf · min(2^i, 8)``;
* instance normalisation instead of batch normalisation (the paper's batch size 1 makes batch
  norm an instance norm; this keeps that behaviour for any batch size, and eval = train);
* dropout (0.5 in the first three decoder layers) is off at inference (``eval()``), so staging is
  deterministic; the paper keeps it on as the noise source;
* optional spectral normalisation (Miyato et al., ICLR 2018) in the discriminator.

Images inside the networks are ``float32`` ``N×3×H×W`` in ``[-1, 1]`` (:func:`to_tensor`,
:func:`to_images` convert from and to ``H×W×3`` ``uint8`` RGB). Training is
:mod:`adstage.train.pix2pix`; staging with a trained generator is :mod:`adstage.stage.vanilla`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from adstage.errors import InputError
from adstage.io.checkpoints import read_checkpoint as _read_checkpoint
from adstage.types import RGB

__all__ = [
    "PatchDiscriminator",
    "UNetGenerator",
    "check_size",
    "load_checkpoint",
    "on_white",
    "read_checkpoint",
    "receptive_field",
    "to_images",
    "to_tensor",
]


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
# the condition, tensors, checkpoints


def on_white(image: RGB, alpha: NDArray[np.float32]) -> RGB:
    """The generator's condition: the product's pixels over white, ``image · α + 255 · (1 − α)``."""
    a = alpha[..., None]
    return np.clip(np.rint(image * a + 255.0 * (1.0 - a)), 0, 255).astype(np.uint8)


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
