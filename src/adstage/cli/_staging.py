"""The staging options ``adstage stage`` and ``adstage batch stage`` share: one spelling, one
meaning, one help text (:mod:`adstage.cli._common` holds those every verb shares)."""

from __future__ import annotations

from typing import Annotated

import typer

from adstage.cli._common import accept_renamed, one_of
from adstage.composite.blend import EDGES
from adstage.composite.formats import FORMATS as ASPECTS
from adstage.stage.outputs import FORMATS as CONTAINERS
from adstage.stage.pipeline import DEFAULT_EDGES, DEFAULT_LIGHT, DEFAULT_SHADE

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
