"""``adstage train adgen``: two steps of the tiny configuration on a generated manifest, the
final folder, usage errors (exit 2, one line) and a help text that documents every option."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from adstage.cli import app
from adstage.io.images import write_image, write_mask
from scenes import product_on_white

pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("accelerate")

pytestmark = pytest.mark.usefixtures("one_torch_thread")
runner = CliRunner()


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("adgen-cli")
    rows = []
    for i in range(3):
        product, mask = product_on_white(32, 32, fill=(40 + 50 * i, 90, 160))
        ad = product.copy()
        ad[~mask] = (190, 170, 140)
        write_image(root / "ads" / f"{i}.png", ad)
        write_image(root / "products" / f"{i}.png", product)
        write_mask(root / "masks" / f"{i}.png", mask)
        rows.append(
            {"ad": f"ads/{i}.png", "product": f"products/{i}.png", "mask": f"masks/{i}.png",
             "text": f"a vase, style {i}"}
        )  # fmt: skip
    path = root / "manifest.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_two_tiny_steps(manifest: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["train", "adgen", "--base", "tiny", "-d", str(manifest), "-o", str(out)]
    args += ["--steps", "2", "--batch-size", "2", "--size", "32x32", "--every", "1"]
    args += ["--recipe", "release", "--warmup", "0", "--lr", "1e-4", "--sample-steps", "2"]
    result = runner.invoke(app, [*args, "--threads", "1", "--json"])
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["step"] == 2 and summary["items"]["train"] == 3 and summary["failures"] == 0
    final = Path(summary["final"])
    assert {"refadgen.json", "refadgen.safetensors", "tiny-base.json"} <= {
        p.name for p in final.iterdir()
    }
    assert (out / "samples" / "step-0000002.png").is_file()
    # a tiny model is trained from scratch on the training betas: it samples with them
    meta = json.loads((final / "refadgen.json").read_text())
    assert meta["inference_scheduler"] == "training"
    record = json.loads((out / "adstage-run.json").read_text())
    assert record["command"] == "train adgen" and record["summary"]["step"] == 2
    assert record["config"]["size"] == [32, 32] or record["config"]["size"] == (32, 32)
    # a re-run continues: nothing left to train, the same final model
    again = runner.invoke(app, [*args, "--threads", "1", "--json"])
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["step"] == 2


def test_speed_options_reach_the_trainer(manifest: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["train", "adgen", "--base", "tiny", "-d", str(manifest), "-o", str(out)]
    args += ["--steps", "1", "--batch-size", "2", "--size", "32x32", "--sample-steps", "2"]
    args += ["--recipe", "release", "--warmup", "0", "--mixed-precision", "bf16"]
    result = runner.invoke(app, [*args, "--channels-last", "--threads", "1", "--json"])
    assert result.exit_code == 0, result.stderr
    config = json.loads((out / "adstage-run.json").read_text())["config"]
    assert config["mixed_precision"] == "bf16" and config["channels_last"] is True


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--size", "32by32"], "size: expected WIDTHxHEIGHT"),
        (["--size", "30x32"], "divisible by 4"),
        (["--recipe", "release"], "give steps"),
        (["--recipe", "fast", "--steps", "1"], "recipe: expected one of"),
        (["--mixed-precision", "fp16", "--steps", "1"], "needs a CUDA device"),
        (["--base", "nowhere", "--steps", "1"], "base: expected 'tiny'"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    manifest: Path, tmp_path: Path, extra: list[str], message: str
) -> None:
    args = ["train", "adgen", "--base", "tiny", "-d", str(manifest), "-o", str(tmp_path / "r")]
    result = runner.invoke(app, [*args, *extra])
    assert result.exit_code == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], result.stderr


def test_missing_manifest_and_bad_columns(tmp_path: Path) -> None:
    args = ["train", "adgen", "--base", "tiny", "-o", str(tmp_path / "r"), "--steps", "1"]
    result = runner.invoke(app, [*args, "-d", str(tmp_path / "none.csv")])
    assert result.exit_code == 2 and "does not exist" in result.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("image,caption\na.png,x\n")
    result = runner.invoke(app, [*args, "-d", str(bad)])
    assert result.exit_code == 2 and "no 'product' column" in result.stderr


def test_help_documents_every_option() -> None:
    command = typer.main.get_command(app).commands["train"].commands["adgen"]  # type: ignore[attr-defined]
    options = [p for p in command.params if getattr(p, "param_type_name", "") == "option"]
    undocumented = [p.opts[0] for p in options if not p.hidden and not (p.help or "").strip()]
    assert not undocumented
    result = runner.invoke(app, ["train", "adgen", "--help"])
    assert result.exit_code == 0
    flat = " ".join(result.stdout.split())
    for option in ("--base", "--recipe", "--steps", "--epochs", "--batch-size", "--lr", "--size",
                   "--noise-offset", "--warmup", "--mixed-precision", "--gradient-checkpointing", "--channels-last",
                   "--every", "--seed", "--device", "--overwrite", "--json"):  # fmt: skip
        assert option in flat, option
    assert "2,000 warm-up" in flat and "no epoch limit" in flat
