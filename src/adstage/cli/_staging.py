"""The staging options ``adstage stage`` and ``adstage batch stage`` share: one spelling, one
meaning, one help text (:mod:`adstage.cli._common` holds those every verb shares)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from adstage.cli._common import accept_renamed, one_of
from adstage.composite.blend import EDGES
from adstage.composite.formats import FORMATS as ASPECTS
from adstage.stage.outputs import FORMATS as CONTAINERS
from adstage.stage.pipeline import DEFAULT_EDGES, DEFAULT_LIGHT, DEFAULT_SHADE

if TYPE_CHECKING:
    from adstage.generate.refine import RefineSpec

Aspect = Annotated[
    str | None,
    typer.Option(
        "--aspect",
        help=f"Ad aspect ratio W:H, e.g. {', '.join(ASPECTS)} (default: the scene's).",
        callback=accept_renamed(),
    ),
]
Fit = Annotated[str, typer.Option(help="Scale to the slot by footprint, height, width, area.")]
Harmonize = Annotated[float, typer.Option(min=0.0, max=1.0, help="Colour harmonisation.")]
Light = Annotated[
    float,
    typer.Option(
        min=0.0,
        max=1.0,
        help="Match exposure and white balance to the scene around the product, 0 (off) to "
        f"1 (default {DEFAULT_LIGHT}); bounded gains, recorded in the manifest.",
        show_default=False,
    ),
]
Shade = Annotated[
    float,
    typer.Option(
        min=0.0,
        max=1.0,
        help="Shade the evenly lit product as the room lights it: brighter on the side facing "
        f"the scene's light, darker towards its base, 0 (off) to 1 (default {DEFAULT_SHADE}).",
        show_default=False,
    ),
]
Edges = Annotated[
    str,
    typer.Option(
        "--edges",
        help=f"Free the product's edge of the catalog white: {', '.join(EDGES)} "
        f"(default {DEFAULT_EDGES}; ml needs pymatting).",
        callback=accept_renamed(one_of("--edges", EDGES)),
        show_default=False,
    ),
]
ProductExact = Annotated[
    bool,
    typer.Option(
        "--product-exact",
        help="Keep the product's opaque pixels as photographed (no --light, no --shade; edges "
        "un-mixed).",
    ),
]
MaxSide = Annotated[
    int, typer.Option(min=0, help="Downscale scenes to this longer side (0: as they are).")
]
Container = Annotated[
    str,
    typer.Option(
        "--container",
        help=f"Image file container: {', '.join(CONTAINERS)}.",
        callback=accept_renamed(one_of("--container", CONTAINERS)),
    ),
]
ScreenSlots = Annotated[
    bool,
    typer.Option(
        "--screen/--no-screen",
        help="Refuse slots that cannot look real (fragments, cut by the frame, giant, badly "
        "covered, floating) before staging; --no-screen stages the top k as retrieved.",
    ),
]
FreeSpace = Annotated[
    bool,
    typer.Option(
        "--free-space/--no-free-space",
        help="Stand the product beside a retrieved object where there is free floor (nothing "
        "removed): first, or only when no slot passes the screen (--replace-first); "
        "--no-free-space never does, and fails a product no slot passes.",
    ),
]
CutByFrame = Annotated[
    bool,
    typer.Option(
        "--cut-by-frame/--whole-product",
        help="A product stood in free space may be cut by the photo's left or right edge (a "
        "quarter of its width at most, only where no place inside the frame is left), as "
        "furniture near the camera is in a photograph; --whole-product keeps it whole.",
    ),
]
Closeup = Annotated[
    bool,
    typer.Option(
        "--closeup/--no-closeup",
        help="A part or accessory of furniture (--kind or the batch's kind reads as one: a "
        "handle, a leg, a cushion) is staged as close-ups: large on the floor of the most "
        "similar rooms, the room behind it out of focus; --no-closeup refuses it.",
    ),
]
FreeSpaceFirst = Annotated[
    bool,
    typer.Option(
        "--free-space-first/--replace-first",
        help="Stand the product beside a retrieved object (nothing removed, nothing painted) "
        "first when there is free floor there, before replacing an object; --replace-first "
        "tries free space only when no slot passes the screen.",
    ),
]
CheckCutout = Annotated[
    bool,
    typer.Option(
        "--check-cutout/--no-check-cutout",
        help="Refuse a photo off a studio backdrop whose cut-out is not one product on its own "
        "(runs into two sides of the photo, falls apart, fills the photo).",
    ),
]
ProductKind = Annotated[
    str | None,
    typer.Option(
        "--kind",
        help="What the products are: a category or a catalog product type (e.g. pouffe, "
        '"chest of 3 drawers"). Floor-standing kinds get a size and support check against the '
        "scene; furniture parts (knobs, legs, doors) are staged as close-ups (--closeup) or "
        "refused (--no-closeup); unrecognised text checks nothing. "
        "In batch, a list's kind (or product_type) column overrides it per product.",
    ),
]


def warn_unknown_kind(kind: str | None) -> None:
    """Say on stderr when ``--kind`` names nothing :func:`adstage.stage.scale.kind_of` knows."""
    from adstage.cli._common import err
    from adstage.stage.scale import kind_of

    if kind is not None and kind_of(kind) is None:
        err.print(f"note: --kind {kind!r} names no known kind: sizes are not checked")


# --- re-drawn by a diffusion model the user brings (adstage.generate.refine) --------------------

REFINE_DEFAULTS: dict[str, Any] = {
    "strength": 0.4,
    "steps": 30,
    "seed": 0,
    "resolution": 512,
    "max_resolution": 1024,
    "device": "cpu",
    "dtype": "float32",
}
"""The refine flags' defaults: :class:`adstage.generate.refine.RefineSpec`'s (a test keeps them
equal; the CLI does not import torch to read them)."""

RefineBase = Annotated[
    Path | None,
    typer.Option(
        "--refine-base",
        help="A diffusers SD-1.5 (or SD-1.5 inpainting) folder you bring: re-draw each "
        "candidate's edge, drawn shadows and filled hole with it (SDEdit + blended latent "
        "diffusion; the product's pixels kept). Off by default; none ships.",
    ),
]
RefineStrength = Annotated[
    float,
    typer.Option(
        min=0.0, max=1.0, help="With --refine-base: the share of the schedule run, in (0, 1]."
    ),
]
RefineSteps = Annotated[
    int, typer.Option(min=1, max=999, help="With --refine-base: DDIM steps of the full schedule.")
]
RefinePrompt = Annotated[
    str | None,
    typer.Option(help="With --refine-base: what the re-drawn regions show.", show_default=False),
]
RefineSeed = Annotated[
    int, typer.Option(min=0, max=2**63 - 1, help="With --refine-base: the noise seed.")
]
RefineResolution = Annotated[
    int,
    typer.Option(
        min=8,
        help="With --refine-base: windows smaller than this (longer side) are scaled up to "
        "it; those up to --refine-max-resolution are refined at their own size.",
    ),
]
RefineMaxResolution = Annotated[
    int,
    typer.Option(
        min=8, help="With --refine-base: larger windows are scaled down to this longer side."
    ),
]
RefineProduct = Annotated[
    bool,
    typer.Option(
        "--refine-product",
        help="With --refine-base: re-draw the product too (it takes the room's light; "
        "details may change). Not with --product-exact.",
    ),
]
Device = Annotated[str, typer.Option(help="With --refine-base: cpu, or cuda[:N] when available.")]
RefineDtype = Annotated[
    str,
    typer.Option(help="With --refine-base: the weights' dtype: float32, float16 (GPU), bfloat16."),
]

REFINE_FLAGS = {
    "base": "--refine-base",
    "strength": "--refine-strength",
    "steps": "--refine-steps",
    "prompt": "--refine-prompt",
    "seed": "--refine-seed",
    "resolution": "--refine-resolution",
    "max_resolution": "--refine-max-resolution",
    "refine_product": "--refine-product",
    "device": "--device",
    "dtype": "--refine-dtype",
}
""":class:`~adstage.generate.refine.RefineSpec`'s fields → the flags that set them (its
errors name the flag); the parameters are ``refine_<field>`` but for ``refine_product`` and
``device``."""


def _parameter(field: str) -> str:
    return field if field in ("refine_product", "device") else f"refine_{field}"


def refine_spec(
    ctx: typer.Context, *, product_exact: bool, device_here: bool = True
) -> RefineSpec | None:
    """The :class:`~adstage.generate.refine.RefineSpec` of the command's refine flags (read
    from ``ctx.params``: ``refine_base`` … ``device``), checked without loading the base (the
    device only by its spelling without ``device_here``: a Ray driver); ``None`` without
    ``--refine-base``. Bad input is one error line naming the flag, exit 2."""
    from adstage.cli._common import err, given
    from adstage.errors import InputError

    def fail(message: str) -> typer.Exit:
        err.print(f"error: {message}")
        return typer.Exit(2)

    fields = {field: ctx.params[_parameter(field)] for field in REFINE_FLAGS}
    if fields["base"] is None:
        used = [f for f in REFINE_FLAGS if f != "base" and given(ctx, _parameter(f))]
        if used:
            raise fail(f"{REFINE_FLAGS[used[0]]}: needs --refine-base (a diffusers SD-1.5 folder)")
        return None
    if fields["refine_product"] and product_exact:
        raise fail("--refine-product: re-draws the product, which --product-exact keeps")
    try:
        from adstage.generate.refine import DEFAULT_PROMPT, RefineSpec
    except ImportError as exc:
        raise fail(
            f"--refine-base: needs the generate extra (pip install -e '.[generate]'): {exc}"
        ) from exc
    fields["base"] = str(fields["base"])
    if fields["prompt"] is None:
        fields["prompt"] = DEFAULT_PROMPT
    spec = RefineSpec(**fields)
    try:
        spec.check(device_here=device_here)
    except InputError as exc:
        raise fail(refine_message(exc)) from exc
    return spec


def refine_message(exc: Exception | str) -> str:
    """A refiner's error (or its text) with the flag in place of the setting it names
    (``strength: …`` → ``--refine-strength: …``)."""
    message = str(exc)
    name = message.split(":", 1)[0]
    flags = REFINE_FLAGS | {"strength × steps": "--refine-strength × --refine-steps"}
    return flags.get(name, name) + message[len(name) :]
