"""Deprecated alias of :mod:`adstage.segment.triage` (segment owns triage); kept until 0.2.

Import from :mod:`adstage.segment.triage` instead. Calling this module, the 0.1 spelling
``adstage.triage(image)``, forwards to :func:`adstage.triage_photo` with a ``DeprecationWarning``.
"""

from __future__ import annotations

from adstage._deprecation import make_callable
from adstage.segment.triage import DEFAULT_THRESHOLD, DEFAULT_TOLERANCE, Triage, triage

__all__ = ["DEFAULT_THRESHOLD", "DEFAULT_TOLERANCE", "Triage", "triage"]

make_callable(__name__, "adstage.segment.triage:triage", "adstage.triage_photo(…)")
