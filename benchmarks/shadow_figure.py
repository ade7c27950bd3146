"""The docs' before/after figures of the shade under the body and the cast shadow, of the
product's shading and of the hole's margin, from synthetic data only.

    python benchmarks/shadow_figure.py --out docs/images/shadow-before-after.jpg
    python benchmarks/shadow_figure.py --compare shade --out docs/images/shade-before-after.jpg
    python benchmarks/shadow_figure.py --compare hole --out docs/images/hole-before-after.jpg
    python benchmarks/shadow_figure.py --compare light --out docs/images/light-before-after.jpg

The demo's catalog (``adstage demo``'s synthetic rooms: 48 staged scenes, 512², Inception-V3 when
its weights are installed, else the classical embedder) and synthetic products. Each product's
best candidate with the default options (after) is composited again into the same slot with the
same fill and ``cast_shadow`` and ``under_shadow`` at 0 (before: the contact shadow and ambient
occlusion only), with ``--compare shade``, ``shade`` at 0 (before: the product lit evenly), or
with ``--compare hole``, the slot grown by 8 px before removal instead of the default
(``DEFAULT_DILATE_PX``), or with ``--compare light``, the light match read from the whole
surroundings with their windows and the base darkened by 0.55 (the defaults before 2026-12-04).
Rows: the ``--rows`` products whose two results differ most around the product (the share of
pixels in its box grown by a quarter that changed by more than 6 grey levels); columns: the
product | before | after, each cropped to that neighbourhood.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from _figures import before_after, demo_rooms, write_before_after
from adstage.composite import blend, light
from adstage.stage.pipeline import DEFAULT_DILATE_PX, StageOptions

COMPARE = {
    "shadows": (
        StageOptions(k=3, cast_shadow=0.0, under_shadow=0.0),
        "before: contact shadow",
        "after: + under, cast",
    ),
    "shade": (StageOptions(k=3, shade=0.0), "before: lit evenly", "after: shaded"),
    "hole": (
        StageOptions(k=3, dilate_px=8),
        "before: slot grown 8 px",
        f"after: {DEFAULT_DILATE_PX} px",
    ),
    "light": (StageOptions(k=3), "before: lit like all around", "after: beside, no windows"),
}
CONSTANTS: dict[str, dict[tuple[Any, str], Any]] = {
    "light": {
        (blend, "LIGHT_FROM_BELOW_TOP"): False,
        (blend, "LIGHT_SKIP_SOURCES"): False,
        (light, "SHADE_BASE"): 0.55,
    },
}
"""Module constants set while the "before" picture is staged (the defaults they replaced)."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--compare", choices=tuple(COMPARE), default="shadows")
    parser.add_argument("--out", type=Path, default=Path("docs/images/shadow-before-after.jpg"))
    parser.add_argument("--products", type=int, default=24, help="products tried")
    parser.add_argument("--rows", type=int, default=4)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="adstage-shadow-figure-"))
    store = demo_rooms(work)
    before, left, right = COMPARE[args.compare]
    scored = before_after(store, args.products, before, 6, CONSTANTS.get(args.compare))
    write_before_after(args.out, scored, args.rows, left, right)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
