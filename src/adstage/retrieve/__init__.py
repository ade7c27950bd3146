"""Embed products and retrieve similar staged products (Ku et al., AdKDD 2023, §5.3 step 1).

``EMBEDDERS`` (:mod:`adstage.retrieve.base`) turn a product into a vector;
:mod:`adstage.retrieve.ingest` fills a catalog (segment → embed → store);
:mod:`adstage.retrieve.search` finds the nearest slots and re-ranks them by shape.
"""

from __future__ import annotations

from adstage._deprecation import make_callable

make_callable(__name__, "adstage.retrieve.search:retrieve", "adstage.retrieve_slots(…)")
