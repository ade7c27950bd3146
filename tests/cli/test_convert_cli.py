"""``adstage convert refadgen``: release → adstage → release round trip, exit 2 on a bad file or
another architecture, and a --help that documents every option."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from adstage.cli import app  # noqa: E402
from refadgen_parity import TINY_UNET  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

runner = CliRunner()


@pytest.fixture
def release(tmp_path: Path) -> tuple[Path, Path, dict]:
    """A tiny release-layout file (fp16, as released, no Resampler) and its U-Net config file."""
    from adstage.generate.refadgen import build

    torch.manual_seed(0)
    state_dict = build(TINY_UNET, None).half().state_dict()
    path = tmp_path / "run" / "checkpoint-10" / "mp_rank_00_model_states.pt"
    path.parent.mkdir(parents=True)
    torch.save({"module": state_dict}, path)
    config = tmp_path / "unet.json"
    config.write_text(json.dumps(TINY_UNET))
    return path, config, state_dict


def test_round_trip_release_adstage_release(tmp_path: Path, release) -> None:
    path, config, state_dict = release
    folder = tmp_path / "adstage"
    args = ["convert", "refadgen", str(tmp_path / "run"), str(folder), "--unet-config", str(config)]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["input_format"] == "release" and record["output_format"] == "adstage"
    assert record["loaded"] == str(path) and record["output"] == str(folder)
    assert (folder / "refadgen.json").is_file() and (folder / "refadgen.safetensors").is_file()
    back = tmp_path / "back.pt"  # the default --to: the other format
    result = runner.invoke(app, ["convert", "refadgen", str(folder), str(back)])
    assert result.exit_code == 0, result.stderr
    assert str(back) in result.stderr and "(release)" in result.stderr
    again = torch.load(back, weights_only=True)["module"]
    assert list(again) == list(state_dict)
    assert all(
        torch.equal(again[k], v) and again[k].dtype == v.dtype for k, v in state_dict.items()
    )


def test_a_bad_file_exits_2_with_one_error_line(tmp_path: Path, release) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint" * 16)
    result = runner.invoke(app, ["convert", "refadgen", str(bad), str(tmp_path / "o"), "--json"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(bad) in lines[0]
    assert json.loads(result.stdout)["path"] == str(bad)
    assert not (tmp_path / "o").exists()


def test_another_architecture_exits_2_and_names_the_keys(tmp_path: Path, release) -> None:
    path, _, _ = release  # a tiny model, read as SD-1.5 without --unet-config
    result = runner.invoke(app, ["convert", "refadgen", str(path), str(tmp_path / "o")])
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert line.startswith("error: ") and "\n" not in line
    assert "expected architecture" in line and "missing keys" in line and "--unet-config" in line


def test_usage_errors(tmp_path: Path, release) -> None:
    path, _, _ = release
    base = ["convert", "refadgen", str(path), str(tmp_path / "o")]
    result = runner.invoke(app, [*base, "--to", "onnx"])
    assert result.exit_code == 2 and "--to: expected one of adstage, release" in result.stderr
    (tmp_path / "list.json").write_text("[1, 2]")
    result = runner.invoke(app, [*base, "--unet-config", str(tmp_path / "list.json")])
    assert result.exit_code == 2 and "--unet-config" in result.stderr
    result = runner.invoke(app, ["convert", "refadgen", str(tmp_path / "absent"), "o"])
    assert result.exit_code == 2 and "does not exist" in result.stderr


def test_trust_checkpoint(tmp_path: Path, release) -> None:
    path, config, state_dict = release
    torch.save({"module": state_dict, "args": argparse.Namespace(lr=1e-5)}, path)
    base = ["convert", "refadgen", str(path), str(tmp_path / "o"), "--unet-config", str(config)]
    refused = runner.invoke(app, base)
    assert refused.exit_code == 2 and "--trust-checkpoint" in refused.stderr
    result = runner.invoke(app, [*base, "--trust-checkpoint"])
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "o" / "refadgen.safetensors").is_file()


def test_help_documents_every_option() -> None:
    result = runner.invoke(app, ["convert", "refadgen", "--help"])
    assert result.exit_code == 0
    command = typer.main.get_command(app).commands["convert"].commands["refadgen"]  # type: ignore[attr-defined]
    options = [o for p in command.params for o in p.opts if o.startswith("--")]
    assert {"--to", "--unet-config", "--trust-checkpoint", "--json"} <= set(options)
    for param in command.params:
        assert param.help, f"{param.name} has no help"
    for option in [*options, "IN", "OUT", "adstage|release"]:
        assert option in result.stdout, option
