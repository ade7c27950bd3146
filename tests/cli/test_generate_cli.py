"""adstage generate: outputs, the JSON record, provenance, exit codes and one clear line per
bad input, on a tiny pixel-space base and checkpoint."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from adstage.cli import app
from adstage.io.images import read_image, write_image, write_mask

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

import refadgen_parity as parity  # noqa: E402

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> tuple[Path, Path, Path]:
    """A tiny base folder, an adstage checkpoint and an RGBA product (24 wide × 32 high)."""
    from adstage.generate.checkpoints import save_refadgen
    from adstage.generate.tiny import build_tiny, save_tiny_base

    root = tmp_path_factory.mktemp("gen-cli")
    config = parity.tiny_config()
    model, text = build_tiny(config, seed=0)
    save_tiny_base(root / "base", config, text)
    save_refadgen(model, root / "ckpt")
    rgba = np.zeros((32, 24, 4), np.uint8)
    rgba[8:26, 5:19] = (200, 40, 40, 255)
    write_image(root / "product.png", rgba)
    return root / "base", root / "ckpt", root / "product.png"


def _args(files, out: Path, *extra: str) -> list[str]:
    base, ckpt, product = files
    return [
        "generate",
        str(product),
        "--prompt",
        "a red box on a table",
        "--base",
        str(base),
        "--checkpoint",
        str(ckpt),
        "-o",
        str(out),
        "--steps",
        "2",
        "--size",
        "24x32",
        *extra,
    ]


def test_generate_writes_ads_mask_and_provenance(files, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, _args(files, out, "--num-images", "2", "--product-exact", "--json"))
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["images"] == [str(out / "ad-0.png"), str(out / "ad-1.png")]
    assert record["reference_context"] == "text"
    for name in ("ad-0.png", "ad-1.png", "mask.png", "product.png", "generation.json"):
        assert (out / name).is_file(), name
    assert read_image(out / "ad-0.png").shape == (32, 24, 3)
    generation = json.loads((out / "generation.json").read_text())
    p = generation["provenance"]
    assert p["seed"] == 42 and p["steps"] == 2 and p["num_images"] == 2 and p["product_exact"]
    assert p["negative_prompt"].startswith("bare, naked")
    assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in p["checkpoint"]["sha256"].values())
    run = json.loads((out / "adstage-run.json").read_text())
    assert run["command"] == "generate" and run["summary"]["images"] == 2


def test_the_same_seed_gives_the_same_file(files, tmp_path: Path) -> None:
    for name in ("a", "b"):
        result = runner.invoke(app, _args(files, tmp_path / name, "--seed", "7"))
        assert result.exit_code == 0, result.stderr
    a, b = (read_image(tmp_path / n / "ad-0.png") for n in ("a", "b"))
    assert np.array_equal(a, b)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"--prompt": " "}, "error: --prompt: expected a non-empty text"),
        ({"--size": "25x32"}, "error: size: 25×32"),
        ({"--size": "wide"}, "error: --size: expected WIDTHxHEIGHT"),
        ({"--layout": "diagonal"}, "error: --layout: expected one of photo"),
        ({"--dtype": "float64"}, "error: --dtype: expected one of float32"),
        ({"--scheduler": "euler"}, "error: --scheduler: expected one of auto, release"),
        ({"--base": "MISSING"}, "does not exist; expected a diffusers SD-1.5 folder"),
        ({"--base": "EMPTY"}, "is neither a diffusers SD-1.5 folder"),
        ({"--checkpoint": "MISSING"}, "error: checkpoint: "),
        ({"--checkpoint": "OTHERARCH"}, "keys of another shape"),
        ({"--mask": "SMALLMASK"}, "error: mask: is 16×16 (W×H) but the product is 24×32"),
    ],
)
def test_bad_input_exits_2_with_one_error_line(files, tmp_path, change, message) -> None:
    (tmp_path / "empty").mkdir()
    write_mask(tmp_path / "small.png", np.ones((16, 16), bool))
    from adstage.generate.checkpoints import save_refadgen
    from adstage.generate.tiny import TinyConfig, build_tiny

    if "OTHERARCH" in change.values():  # a checkpoint of another architecture (wider U-Net)
        wider = TinyConfig(**(parity.tiny_config().as_dict() | {"block_out_channels": (8, 24)}))
        save_refadgen(build_tiny(wider, seed=0)[0], tmp_path / "other")
    paths = {
        "OTHERARCH": str(tmp_path / "other"),
        "MISSING": str(tmp_path / "missing"),
        "EMPTY": str(tmp_path / "empty"),
        "SMALLMASK": str(tmp_path / "small.png"),
    }
    args = _args(files, tmp_path / "out")
    for option, value in change.items():
        value = paths.get(value, value)
        if option in args:
            args[args.index(option) + 1] = value
        else:
            args += [option, value]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not (tmp_path / "out" / "ad-0.png").exists()


def test_help_lists_every_option() -> None:
    result = runner.invoke(app, ["generate", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in (
        "--prompt", "--base", "--checkpoint", "--out", "--mask", "--layout", "--steps",
        "--guidance", "--fusion-scale", "--seed", "--size", "--negative-prompt", "--device",
        "--dtype", "--num-images", "--product-exact", "--image-encoder", "--tokenizer", "--json",
    ):  # fmt: skip
        assert option in result.stdout, option


def test_the_clis_choices_are_the_librarys() -> None:
    """cli/generate.py keeps its own tuples so that --help imports no diffusers: they must not
    drift from the pipeline's layouts, dtypes and schedulers."""
    from adstage.cli import generate as cli
    from adstage.generate.pipeline import DTYPES, LAYOUTS
    from adstage.generate.sampling import SCHEDULERS

    assert set(cli._LAYOUTS) == set(LAYOUTS)
    assert set(cli._DTYPES) == set(DTYPES)
    assert set(cli._SCHEDULERS) == {"auto", *SCHEDULERS}
