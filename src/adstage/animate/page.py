"""An HTML page that shows each animation next to its still (for the demo and for reports).

Paths are written relative to the page, so the folder can be zipped or served as it is. MP4s play
in ``<video autoplay loop muted playsinline>`` (muted: browsers only autoplay silent video);
GIF and WebP animations are shown as images.
"""

from __future__ import annotations

import html
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adstage.errors import InputError
from adstage.io.atomic import atomic_write_text

__all__ = ["AnimationItem", "write_animation_page"]

_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; background: #fafafa; }
h1 { font-size: 22px; margin: 0 0 4px; } p.lead { color: #555; margin: 0 0 20px; max-width: 70em; }
figure.pair { display: flex; gap: 16px; align-items: flex-start; margin: 0 0 28px; flex-wrap: wrap; }
figure.pair > div { display: flex; flex-direction: column; gap: 4px; }
figure.pair img, figure.pair video { width: min(360px, 42vw); height: auto; display: block;
  background: #eee; }
figure.pair span { font-size: 12px; color: #666; } figcaption { font-size: 13px; color: #444;
  min-width: 12em; max-width: 24em; }
"""


@dataclass(frozen=True)
class AnimationItem:
    """One row: the ``video`` (MP4, GIF or WebP), its ``still`` and an optional ``title``."""

    video: str | os.PathLike[str]
    still: str | os.PathLike[str]
    title: str = ""


def _item(value: Any) -> AnimationItem:
    if isinstance(value, AnimationItem):
        return value
    if isinstance(value, Mapping):
        if "video" not in value or "still" not in value:
            raise InputError(f"items: each item needs 'video' and 'still', got {sorted(value)}")
        return AnimationItem(value["video"], value["still"], str(value.get("title", "")))
    if isinstance(value, tuple | list) and len(value) in (2, 3):
        return AnimationItem(*value)
    raise InputError(
        f"items: expected AnimationItem, a mapping or a (video, still[, title]) tuple, got "
        f"{type(value).__name__}"
    )


def _relative(path: str | os.PathLike[str], out_dir: Path) -> str:
    p = Path(path)
    if not p.is_absolute():  # already relative to the page
        return p.as_posix()
    return Path(os.path.relpath(p, out_dir)).as_posix()


def write_animation_page(
    out_dir: str | os.PathLike[str],
    items: Iterable[AnimationItem | Mapping[str, Any] | tuple[Any, ...]],
    *,
    title: str = "adstage: parallax animations",
    lead: str = "Each video (right) was made from the still next to it (Ku et al., AdKDD 2023, "
    "§5.4): the product moves, the gap it reveals is inpainted once, the background moves slower.",
) -> Path:
    """Write ``out_dir/index.html`` with one row per item (still, then video) and return it.

    ``items``: :class:`AnimationItem`, mappings with ``video``, ``still`` (and ``title``) or
    ``(video, still[, title])`` tuples. Absolute paths are made relative to ``out_dir``; relative
    paths are taken as relative to it already.
    """
    folder = Path(out_dir)
    rows = []
    for raw in items:
        item = _item(raw)
        video = html.escape(_relative(item.video, folder))
        still = html.escape(_relative(item.still, folder))
        caption = html.escape(item.title or Path(item.video).stem)
        if Path(item.video).suffix.lower() == ".mp4":
            player = (
                f'<video src="{video}" autoplay loop muted playsinline preload="auto" '
                f'poster="{still}"></video>'
            )
        else:
            player = f'<img src="{video}" alt="{caption} (animated)" loading="lazy">'
        rows.append(
            '<figure class="pair">'
            f'<div><a href="{still}"><img src="{still}" alt="{caption}" loading="lazy"></a>'
            "<span>still</span></div>"
            f"<div>{player}<span>animation</span></div>"
            f"<figcaption>{caption}</figcaption></figure>"
        )
    page = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p class=lead>{html.escape(lead)}</p>"
        + "".join(rows)
        + "</body></html>\n"
    )
    return atomic_write_text(folder / "index.html", page)
