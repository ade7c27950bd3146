"""A self-contained HTML page of image rows, for demos and benchmark reports.

Images are referenced by relative paths, so the folder can be zipped or served as it is. Cut-outs
are shown on a checkerboard, so transparency is visible.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

from adstage.io.atomic import atomic_write_text

_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; background: #fafafa; }
h1 { font-size: 22px; margin: 0 0 4px; } p.lead { color: #555; margin: 0 0 20px; max-width: 70em; }
table { border-collapse: collapse; } th { text-align: left; font-weight: 600; padding: 6px 10px; }
td { vertical-align: top; padding: 6px 10px; border-top: 1px solid #e3e3e3; }
td.img img { max-width: min(240px, 22vw); max-height: 240px; display: block; }
td.img.checker img { background-image:
  linear-gradient(45deg,#ccc 25%,transparent 25%), linear-gradient(-45deg,#ccc 25%,transparent 25%),
  linear-gradient(45deg,transparent 75%,#ccc 75%), linear-gradient(-45deg,transparent 75%,#ccc 75%);
  background-size: 16px 16px; background-position: 0 0,0 8px,8px -8px,-8px 0; }
td.meta { font-size: 13px; color: #444; min-width: 14em; } .tag { display: inline-block;
  padding: 1px 7px; border-radius: 9px; font-size: 12px; background: #e8eefc; color: #234; }
.tag.staged { background: #fde9d9; color: #632; } .bad { color: #b00; }
"""


@dataclass
class Cell:
    """An image (path relative to the page) or, when ``src`` is empty, text."""

    src: str = ""
    text: str = ""
    checker: bool = False


@dataclass
class Gallery:
    title: str
    columns: list[str]
    lead: str = ""
    rows: list[tuple[list[Cell], str]] = field(default_factory=list)

    def add(self, cells: list[Cell], meta_html: str = "") -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"expected {len(self.columns)} cells, got {len(cells)}")
        self.rows.append((cells, meta_html))

    def render(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.columns) + "<th></th>"
        body = []
        for cells, meta in self.rows:
            tds = []
            for cell in cells:
                if cell.src:
                    cls = "img checker" if cell.checker else "img"
                    alt = html.escape(cell.text or cell.src)
                    tds.append(
                        f'<td class="{cls}"><a href="{html.escape(cell.src)}">'
                        f'<img src="{html.escape(cell.src)}" alt="{alt}" loading="lazy"></a></td>'
                    )
                else:
                    tds.append(f"<td>{html.escape(cell.text)}</td>")
            body.append("<tr>" + "".join(tds) + f'<td class="meta">{meta}</td></tr>')
        return (
            "<!doctype html><html lang=en><head><meta charset=utf-8>"
            f"<title>{html.escape(self.title)}</title><style>{_CSS}</style></head><body>"
            f"<h1>{html.escape(self.title)}</h1><p class=lead>{self.lead}</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
            "</body></html>\n"
        )

    def write(self, path: Path) -> Path:
        return atomic_write_text(path, self.render())
