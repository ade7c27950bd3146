"""Deterministic synthetic furniture catalog: products drawn by code, on white or in a room.

Every item is a pure function of ``(seed, index)``: ``SyntheticCatalog(n, seed=s)[i]`` draws its
product, view, background or room from ``np.random.default_rng([s, i])``, so a test, a demo and
a load test see the same pixels on every machine. Only numpy and OpenCV are used; nothing is
downloaded, so nothing here has a licence question.

Products are parametric 3-D models in centimetres (boxes, surfaces of revolution, rods, leaves)
seen in an oblique 3/4 view and shaded by one directional light: darker side faces, gradients
along surfaces, specular highlights on ceramic, glass and metal. An un-staged item stands on a
white or near-white studio background with a soft contact shadow; a staged item stands in a room
drawn in one-point perspective (a wall with a window or pictures, a wood, tile, carpet or concrete
floor) beside up to two other products, with cast shadows. The ground-truth mask is the main
product's visible silhouette, never its shadow.

Hard cases are deliberate and named in ``meta["hard"]``: ``white-on-white`` (a white product on a
white background), ``translucent`` (a clear-glass vase), ``holes`` (chair legs, open shelving,
foliage: the background shows through the mask), ``occluded`` and ``cropped`` (staged only).

The parts, from what an item is to how it is drawn (only the names below are public):

- :mod:`.spec`: the categories, :class:`SyntheticItem`, :class:`ItemSpec`, :func:`item_spec`
  and the hash that assigns each index its category and staged flag;
- :mod:`.canvas`: materials, the oblique view, noise textures and the layer drawn into;
- :mod:`.shapes`: the primitives (boxes, surfaces of revolution, rods, leaves, lines);
- :mod:`.model`: a product as a 3-D model, and the random helpers of the drawers;
- :mod:`.furniture`, :mod:`.lighting`, :mod:`.decoration`: one drawer per category;
  :mod:`.products` maps each category to its drawer;
- :mod:`.shadows`: contact and cast shadows; :mod:`.rooms`: camera, wall, floor and wall decor;
- :mod:`.scenes`: one item's picture and mask, in a studio or in a room;
- :mod:`.catalog`: :func:`render_product`, :class:`SyntheticCatalog` and :func:`write_catalog`.
"""

from __future__ import annotations

from adstage.datasets.synthetic.catalog import SyntheticCatalog, render_product, write_catalog
from adstage.datasets.synthetic.spec import CATEGORIES, ItemSpec, SyntheticItem, item_spec

__all__ = [
    "CATEGORIES",
    "ItemSpec",
    "SyntheticCatalog",
    "SyntheticItem",
    "item_spec",
    "render_product",
    "write_catalog",
]
