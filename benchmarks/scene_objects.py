"""Object maps of every scene of a catalog (:mod:`adstage.stage.objects`), computed once.

    python benchmarks/scene_objects.py --catalog benchmarks/.cache/realism-catalog-512-typed
    python benchmarks/scene_objects.py --shard 0/2 & python benchmarks/scene_objects.py --shard 1/2

Writes ``benchmarks/.cache/scene-objects/<digest>.png`` (the cache ``pipeline.FREE_SPACE_OBJECTS``
reads; the maps are derived from the non-commercial photos and stay out of the repository). A
scene already mapped is skipped, so a run resumes; one that fails is reported and the others go on.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from adstage.catalog.store import Catalog
from adstage.io.images import read_image
from adstage.stage.objects import cached_object_map
from adstage.stage.pipeline import shared_segmenter

ROOT = Path(__file__).resolve().parent
log = logging.getLogger("benchmarks.scene_objects")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--catalog", type=Path, default=ROOT / ".cache" / "realism-catalog-512-typed"
    )
    parser.add_argument("--out", type=Path, default=ROOT / ".cache" / "scene-objects")
    parser.add_argument("--segmenter", default="u2net")
    parser.add_argument("--shard", default="0/1", help="i/n: every n-th scene from the i-th")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if not args.catalog.is_dir():
        print(f"skipped: no catalog at {args.catalog}")
        return 0
    i, n = (int(x) for x in args.shard.split("/"))
    rows = Catalog(args.catalog).table.search().select(["uri"]).limit(None).to_arrow().to_pylist()
    uris = sorted({r["uri"] for r in rows})[i::n]
    segmenter = shared_segmenter(args.segmenter)
    started, failed = time.time(), 0
    for k, uri in enumerate(uris):
        try:
            cached_object_map(read_image(uri), segmenter, args.out, Path(uri).name)
        except Exception as exc:  # a benchmark reports, it does not stop
            failed += 1
            log.warning("%s: %s", uri, exc)
        if k % 10 == 0:
            log.info("%d / %d scenes (%.0f s)", k + 1, len(uris), time.time() - started)
    print(f"{len(uris) - failed} of {len(uris)} scenes mapped in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
