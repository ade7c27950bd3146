"""Staging with a realism critic: candidates ranked by it, refused below ``min_realism``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("lancedb")

from typer.testing import CliRunner

from adstage.cli import app
from adstage.datasets.synthetic import SyntheticCatalog, write_catalog
from adstage.errors import AdstageError, InputError
from adstage.evaluate.realism import ColourGradientFeatures, RealismCritic
from adstage.io.images import write_image
from adstage.retrieve.ingest import ingest, open_or_create, sources_from_csv
from adstage.stage.pipeline import StageOptions, stage

SYN = SyntheticCatalog(30, seed=1, size=(256, 256))


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("stage-realism")
    write_catalog(SYN, root / "syn")
    ingest(
        open_or_create(root / "cat", embedders=["classical"]),
        sources_from_csv(root / "syn" / "labels.csv")[0],
    )
    return root / "cat"


def _plain():
    # Plain item 2: one the default screen stages (see tests/stage/test_stage.py STAGEABLE).
    return [item for item in (SYN[i] for i in range(len(SYN))) if not item.staged][2]


class ScriptedCritic:
    """Returns the given scores in call order and records the boxes it was shown."""

    def __init__(self, scores: list[float]) -> None:
        self.scores = list(scores)
        self.boxes: list[tuple[int, int, int, int]] = []

    def __call__(self, image: np.ndarray, box: tuple[int, int, int, int]) -> float:
        self.boxes.append(box)
        return self.scores.pop(0)


def test_candidates_are_ranked_by_the_critic_and_refused_below_the_threshold(
    catalog: Path,
) -> None:
    item = _plain()
    kwargs = {"mask": item.mask, "k": 3, "segmenter": "solid-background"}
    plain = stage(item.image, catalog, **kwargs)
    assert len(plain.candidates) == 3
    critic = ScriptedCritic([0.2, 0.9, 0.6])  # called in the pipeline's own order
    judged = stage(item.image, catalog, realism=critic, min_realism=0.5, **kwargs)
    assert critic.boxes == [c.placement for c in plain.candidates]
    assert [c.components["realism"] for c in judged.candidates] == [0.9, 0.6]
    assert [c.match.id for c in judged.candidates] == [
        plain.candidates[1].match.id,
        plain.candidates[2].match.id,
    ]
    assert judged.errors == [
        {
            "catalog_id": plain.candidates[0].match.id,
            "error": "refused: realism 0.200 is below min_realism 0.5",
        }
    ]
    assert "realism" not in judged.provenance["options"]
    with pytest.raises(AdstageError, match=r"every candidate is below min_realism 0.95 \(best"):
        stage(
            item.image, catalog, realism=ScriptedCritic([0.2, 0.9, 0.6]), min_realism=0.95, **kwargs
        )


def test_min_realism_needs_a_critic_and_a_unit_value() -> None:
    with pytest.raises(InputError, match="min_realism: needs a realism critic"):
        StageOptions(min_realism=0.5)
    with pytest.raises(InputError, match=r"min_realism: expected a value in \[0, 1\], got 2"):
        StageOptions(realism=lambda image, box: 1.0, min_realism=2)


def test_cli_stage_with_a_critic_file(catalog: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    dim = ColourGradientFeatures()([np.zeros((64, 64, 3), np.uint8)]).shape[1]
    critic = RealismCritic.fit(
        rng.normal(size=(8, dim)), rng.normal(size=(8, dim)) + 1, features="colour-gradient"
    ).save(tmp_path / "critic.npz")
    item = _plain()
    products = tmp_path / "products"
    write_image(products / "p.png", item.image)
    base = ["stage", str(products), "-c", str(catalog), "-k", "2", "--json"]

    ranked = CliRunner().invoke(app, [*base, "-o", str(tmp_path / "a"), "--critic", str(critic)])
    assert ranked.exit_code == 0, ranked.stderr
    manifest = json.loads((tmp_path / "a" / "p" / "manifest.json").read_text())
    scores = [c["components"]["realism"] for c in manifest["candidates"]]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    run = json.loads((tmp_path / "a" / "adstage-run.json").read_text())
    assert run["config"]["realism"] == {"critic": str(critic), "features": "colour-gradient"}

    refused = CliRunner().invoke(
        app, [*base, "-o", str(tmp_path / "b"), "--critic", str(critic), "--min-realism", "1"]
    )
    assert refused.exit_code == 1
    assert "every candidate is below min_realism 1.0" in json.loads(refused.stdout)["error"]

    alone = CliRunner().invoke(app, [*base, "-o", str(tmp_path / "c"), "--min-realism", "0.5"])
    assert alone.exit_code == 2 and "--min-realism: needs --critic" in alone.stderr
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"no")
    bad = CliRunner().invoke(app, [*base, "-o", str(tmp_path / "d"), "--critic", str(broken)])
    assert bad.exit_code == 2 and "not a realism critic file" in bad.stderr
