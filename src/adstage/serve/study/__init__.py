"""A human study of image realism: private judge links, one vote per item, results with statistics.

Three protocols, from the two papers' judgements:

* ``pairwise`` (Ku et al., AdKDD 2023): two images, pick the more realistic; three independent
  judges per comparison, majority vote.
* ``g2r`` (RefAdGen, Chen & Yang): one image, "real photograph or generated?".
* ``best-of-n`` (RefAdGen, J2b): N images, pick the best.

The parts:

- :mod:`.store`: the SQLite study file (WAL): creating it from a CSV (images copied in as
  re-encoded PNG blobs), the judges' tokens and randomised orders, next item, votes, images;
- :mod:`.stats`: Fleiss' κ, majorities, win rates with Wilson intervals, attention checks and
  the ``results`` summary;
- :mod:`.app`: the FastAPI app and its pages (imports FastAPI; nothing else here does).
"""

from adstage.serve.study.stats import fleiss_kappa, study_results
from adstage.serve.study.store import PROTOCOLS, CreatedStudy, Study, create_study

__all__ = ["PROTOCOLS", "CreatedStudy", "Study", "create_study", "fleiss_kappa", "study_results"]
