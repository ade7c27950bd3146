"""Data sets adstage can make or read without any licence question.

:mod:`adstage.datasets.synthetic` draws a deterministic catalog of furniture products (un-staged
on white, and staged in simple rooms) with exact ground-truth masks, for demos, tests and load
tests.
"""

from __future__ import annotations

from adstage.datasets.synthetic import (
    CATEGORIES,
    ItemSpec,
    SyntheticCatalog,
    SyntheticItem,
    item_spec,
    render_product,
    write_catalog,
)

__all__ = [
    "CATEGORIES",
    "ItemSpec",
    "SyntheticCatalog",
    "SyntheticItem",
    "item_spec",
    "render_product",
    "write_catalog",
]
