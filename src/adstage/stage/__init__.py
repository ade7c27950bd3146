"""Retrieval-assisted copy-paste staging (Ku et al., AdKDD 2023, §5.3), end to end.

:func:`adstage.stage.pipeline.stage` (also ``adstage.stage_product``) stages one product;
:mod:`adstage.stage.vanilla` is the pix2pix baseline; :mod:`adstage.stage.outputs` writes results.
"""

from __future__ import annotations

from adstage._deprecation import make_callable

make_callable(__name__, "adstage.stage.pipeline:stage", "adstage.stage_product(…)")
