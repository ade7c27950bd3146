"""One CLI grammar: every verb spells a shared option the same way and means the same by it.

The first half walks every command of the typer app (as click commands) and checks the option
table; the second invokes each deprecated spelling, which must still work and warn once.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer.main
from typer.testing import CliRunner

from adstage.animate import MOTIONS
from adstage.cli import app
from adstage.inpaint import INPAINTERS
from adstage.io.images import write_image, write_mask
from adstage.registry import Registry
from adstage.retrieve.base import EMBEDDERS
from adstage.segment import SEGMENTERS
from scenes import product_on_white

runner = CliRunner()

BACKENDS: dict[str, Registry[Any]] = {
    "--segmenter": SEGMENTERS,
    "--inpainter": INPAINTERS,
    "--embedder": EMBEDDERS,
    "--motion": MOTIONS,
}
"""Each option that names a backend, and the registry whose names it takes."""

SHORT = {
    "-o": "--out",
    "-k": "--top-k",
    "-e": "--embedder",
    "-c": "--catalog",
    "-m": "--mask",
    "-r": "--recursive",
    "-d": "--data",
    "-v": "--verbose",
    "-q": "--quiet",
}
"""Every short form and the one long option it stands for."""

DEPRECATED = {"--backend", "-b", "--format", "--image-format", "--k", "--resume", "--force"}

ALIASES = {
    ("segment", "--backend"): "--segmenter",
    ("segment", "--resume"): "--overwrite",
    ("demo", "--backend"): "--segmenter",
    ("inpaint", "--backend"): "--inpainter",
    ("stage", "--format"): "--aspect",
    ("stage", "--image-format"): "--container",
    ("stage", "--resume"): "--overwrite",
    ("animate", "--format"): "--container",
    ("eval retrieval", "--k"): "--top-k",
    ("weights fetch", "--force"): "--overwrite",
    ("train pix2pix", "--resume"): "--overwrite",
    ("train inpaint", "--resume"): "--overwrite",
}
"""Every hidden option: (command, old spelling) → the spelling its warning names."""

IMAGE_INPUTS = {"inputs", "image", "real", "generated", "data"}
"""Parameter names of the images a command reads: such a command takes --max-pixels."""

SAME_NAME_OTHER_TYPE = {
    "--top-k": "an int, except eval retrieval's comma-separated ranks (1,3,5)",
    "--size": "pixels: animate's WIDTHxHEIGHT or ad size, train's square side",
}
"""Options whose value type differs between verbs, and why the meaning is still one."""


def _commands() -> Iterator[tuple[str, Any]]:
    def walk(command: Any, path: tuple[str, ...]) -> Iterator[tuple[str, Any]]:
        subs = getattr(command, "commands", None)
        if subs:
            for name, sub in sorted(subs.items()):
                yield from walk(sub, (*path, name))
        else:
            yield " ".join(path), command

    root = typer.main.get_command(app)
    yield "", root  # the root's own options (-v, -q, --version)
    yield from walk(root, ())


COMMANDS = dict(_commands())


def _options(command: Any, *, hidden: bool = False) -> list[Any]:
    return [
        p
        for p in command.params
        if getattr(p, "param_type_name", "") == "option" and bool(p.hidden) == hidden
    ]


def _long(param: Any) -> str:
    return next((o for o in param.opts if o.startswith("--")), param.opts[0])


def _mentions(text: str, registry: Registry[Any]) -> list[str]:
    return [n for n in registry.names() if re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", text)]


def test_the_walk_finds_every_verb() -> None:
    assert {
        "segment",
        "triage",
        "demo",
        "ingest",
        "retrieve",
        "inpaint",
        "stage",
        "animate",
        "eval retrieval",
        "eval fid",
        "train pix2pix",
        "train inpaint",
        "weights list",
        "weights fetch",
        "weights path",
    } <= set(COMMANDS)


def test_no_visible_option_uses_a_deprecated_spelling() -> None:
    for name, command in COMMANDS.items():
        for param in _options(command):
            used = set(param.opts + param.secondary_opts) & DEPRECATED
            assert not used, f"{name}: visible option {used} is a deprecated spelling"


def test_hidden_options_are_exactly_the_deprecated_aliases() -> None:
    found = {
        (name, _long(p))
        for name, command in COMMANDS.items()
        for p in _options(command, hidden=True)
    }
    assert found == set(ALIASES)


def test_an_option_that_takes_a_backend_is_named_for_it_and_lists_every_name() -> None:
    for name, command in COMMANDS.items():
        for param in _options(command):
            help_text = param.help or ""
            long = _long(param)
            for option, registry in BACKENDS.items():
                if long == option:
                    missing = set(registry.names()) - set(_mentions(help_text, registry))
                    assert not missing, f"{name} {long}: help does not list {sorted(missing)}"
                elif len(_mentions(help_text, registry)) >= 3:  # a list of choices
                    raise AssertionError(
                        f"{name} {long} takes a {registry.kind} name: spell it {option}"
                    )


def test_short_forms_mean_one_long_option_everywhere() -> None:
    shorts: dict[str, set[str]] = defaultdict(set)
    short_of: dict[str, set[str | None]] = defaultdict(set)
    for _, command in COMMANDS.items():
        for param in _options(command):
            opts = param.opts + param.secondary_opts
            long = _long(param)
            short = next((o for o in opts if not o.startswith("--")), None)
            short_of[long].add(short)
            if short is not None:
                shorts[short].add(long)
    for short, longs in shorts.items():
        assert longs == {SHORT.get(short)}, f"{short} stands for {sorted(longs)}"
    for short, long in SHORT.items():
        if long in short_of:
            assert short_of[long] == {short}, f"{long} has short forms {short_of[long]}"


def test_a_long_option_has_one_kind_of_value_everywhere() -> None:
    kinds: dict[str, set[str]] = defaultdict(set)
    for _, command in COMMANDS.items():
        for param in _options(command):
            if param.is_flag:
                kind = "flag"
            else:
                annotation = param.type_descriptor.annotation  # list[X] of a repeatable: X
                annotation = getattr(annotation, "__args__", (annotation,))[0]
                kind = getattr(annotation, "__name__", str(annotation))
            kinds[_long(param)].add(kind)
    mixed = {long: k for long, k in kinds.items() if len(k) > 1}
    assert set(mixed) <= set(SAME_NAME_OTHER_TYPE), mixed
    assert kinds["--shadow"] == {"float"} and kinds["--no-shadow"] == {"flag"}
    assert kinds["--json"] == kinds["--overwrite"] == kinds["--recursive"] == {"flag"}
    assert kinds["--max-pixels"] == {"int"} and kinds["--aspect"] == {"str"}


def test_json_out_shadow_and_max_pixels() -> None:
    json_help = set()
    for name, command in COMMANDS.items():
        options = {_long(p): p for p in _options(command)}
        if "--json" in options:
            assert options["--json"].opts == ["--json"] and options["--json"].is_flag
            json_help.add(options["--json"].help)
        if "--shadow" in options:
            assert "--no-shadow" in options, f"{name}: --shadow without --no-shadow"
        assert not {"--output", "--out-dir", "--dest"} & set(options), name
        reads_images = any(p.name in IMAGE_INPUTS for p in command.params)
        if reads_images:
            assert "--max-pixels" in options, f"{name} reads images but has no --max-pixels"
    assert len(json_help) == 1, "--json must mean the same everywhere"
    for name in ("segment", "stage", "animate", "weights fetch", "train pix2pix", "train inpaint"):
        assert "--overwrite" in {_long(p) for p in _options(COMMANDS[name])}, name


def test_help_imports_no_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from adstage.cli import app; import typer.main; "
        "typer.main.get_command(app); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------------------------------------
# each deprecated spelling still works, and says what replaced it


def _warned(result: Any, old: str, new: str) -> None:
    lines = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(lines) == 1, result.stderr
    assert old in lines[0] and "deprecated" in lines[0] and new in lines[0], lines[0]


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    return write_image(tmp_path / "p.png", product_on_white(96, 128)[0])


@pytest.mark.parametrize("old", ["--backend", "-b"])
def test_segment_backend(photo: Path, tmp_path: Path, old: str) -> None:
    args = ["segment", str(photo), "-o", str(tmp_path / "o"), old, "grabcut", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    _warned(result, "--backend", "--segmenter")
    assert json.loads(result.stdout)["backend"] == "grabcut"


def test_old_and_new_spelling_together_is_a_usage_error(photo: Path, tmp_path: Path) -> None:
    args = ["segment", str(photo), "-o", str(tmp_path / "o"), "--segmenter", "grabcut"]
    result = runner.invoke(app, [*args, "--backend", "isnet"])
    assert result.exit_code == 2 and "give --segmenter only" in result.stderr
    result = runner.invoke(app, [*args[:4], "--backend", "isnet", *args[4:]])
    assert result.exit_code == 2 and "give --segmenter only" in result.stderr


def test_segment_resume_is_the_default_now(photo: Path, tmp_path: Path) -> None:
    args = ["segment", str(photo), "-o", str(tmp_path / "o"), "--json"]
    assert runner.invoke(app, args).exit_code == 0
    result = runner.invoke(app, [*args, "--resume"])
    assert result.exit_code == 0, result.stderr
    _warned(result, "--resume", "--overwrite")
    assert json.loads(result.stdout)["skipped"] is True


@pytest.mark.parametrize("old", ["--backend", "-b"])
def test_inpaint_backend(photo: Path, tmp_path: Path, old: str) -> None:
    hole = np.zeros((96, 128), bool)
    hole[30:50, 40:70] = True
    mask = write_mask(tmp_path / "hole.png", hole)
    args = ["inpaint", str(photo), "-m", str(mask), "-o", str(tmp_path / "f.png"), old, "ns"]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.stderr
    _warned(result, "--backend", "--inpainter")
    assert json.loads(result.stdout)["backend"] == "ns"


@pytest.mark.parametrize("old", ["--backend", "-b"])
def test_demo_backend(tmp_path: Path, monkeypatch, old: str) -> None:
    import adstage.demo

    seen = {}

    def run_demo(out: Path, *, backend: str, **_: Any) -> dict[str, Any]:
        seen["backend"] = backend
        return {}

    monkeypatch.setattr(adstage.demo, "run_demo", run_demo)
    monkeypatch.setattr(adstage.demo, "run_staging_demo", lambda out: {"page": str(out)})
    result = runner.invoke(app, ["demo", "-o", str(tmp_path), old, "grabcut", "--json"])
    assert result.exit_code == 0, result.stderr
    _warned(result, "--backend", "--segmenter")
    assert seen["backend"] == "grabcut"


def test_stage_format_image_format_and_resume(small_catalog: Path, tmp_path: Path) -> None:
    out = tmp_path / "staged"
    base = ["stage", str(small_catalog / "products"), "-c", str(small_catalog / "cat")]
    base += ["-o", str(out), "-k", "1", "--inpainter", "ns", "--json"]
    result = runner.invoke(app, [*base, "--format", "1:1"])
    assert result.exit_code == 0, result.stderr
    _warned(result, "--format", "--aspect")
    for record in map(json.loads, result.stdout.splitlines()):
        h, w = np.asarray(__import__("PIL.Image").Image.open(record["best"])).shape[:2]
        assert w == h
    again = runner.invoke(app, [*base, "--resume"])
    assert again.exit_code == 0, again.stderr
    _warned(again, "--resume", "--overwrite")
    assert all(json.loads(line)["skipped"] for line in again.stdout.splitlines())
    jpg = runner.invoke(app, [*base, "--image-format", "jpg", "--overwrite"])
    assert jpg.exit_code == 0, jpg.stderr
    _warned(jpg, "--image-format", "--container")
    assert all(json.loads(line)["best"].endswith(".jpg") for line in jpg.stdout.splitlines())


def test_animate_format_and_bare_shadow(photo: Path, tmp_path: Path) -> None:
    args = ["animate", str(photo), "-o", str(tmp_path / "a.bin"), "--size", "32x32"]
    args += ["--duration", "0.4", "--fps", "5", "--inpainter", "ns", "--segmenter", "grabcut"]
    result = runner.invoke(app, [*args, "--format", "gif", "--json"])
    assert result.exit_code == 0, result.stderr
    _warned(result, "--format", "--container")
    from PIL import Image

    assert Image.open(tmp_path / "a.bin").format == "GIF"
    bare = runner.invoke(app, [*args[:2], "--shadow", *args[2:], "--container", "gif"])
    assert bare.exit_code == 0, bare.stderr
    _warned(bare, "--shadow without a value", "--shadow 0.3")


def test_eval_retrieval_k(small_catalog: Path) -> None:
    args = ["eval", "retrieval", "-c", str(small_catalog / "cat"), "--min-per-category", "1"]
    result = runner.invoke(app, [*args, "--k", "1,2", "--json"])
    assert result.exit_code == 0, result.stderr
    _warned(result, "--k", "--top-k")
    assert set(json.loads(result.stdout)["precision"]) == {"1", "2"}


def test_weights_fetch_force(monkeypatch) -> None:
    from adstage import weights

    calls = []
    monkeypatch.setattr(weights, "get_spec", lambda name: None)
    monkeypatch.setattr(
        weights, "fetch", lambda name, **kw: calls.append(kw["force"]) or Path("/x")
    )
    result = runner.invoke(app, ["weights", "fetch", "some-weights", "--force"])
    assert result.exit_code == 0, result.stderr
    _warned(result, "--force", "--overwrite")
    assert calls == [True]
    assert runner.invoke(app, ["weights", "fetch", "some-weights"]).exit_code == 0
    assert calls == [True, False]


@pytest.mark.parametrize("trainer", ["pix2pix", "inpaint"])
def test_train_resume_is_the_default_now(tmp_path: Path, monkeypatch, trainer: str) -> None:
    import importlib
    from types import SimpleNamespace

    module = importlib.import_module(f"adstage.train.{trainer}")
    calls = []

    def train(config: Any, *, resume: bool) -> Any:
        calls.append(resume)
        return SimpleNamespace(
            out=tmp_path, checkpoint=tmp_path / "c.pt", step=0, seconds=0.0, n_train=1,
            n_held_out=0, n_shapes=0,
        )  # fmt: skip

    monkeypatch.setattr(module, "train", train)
    (tmp_path / "data").mkdir()
    args = ["train", trainer, "-d", str(tmp_path / "data"), "-o", str(tmp_path / "run")]
    args += ["--device", "cpu"]
    if trainer == "inpaint":
        args += ["--features", "tiny"]
    result = runner.invoke(app, [*args, "--resume"])
    assert result.exit_code == 0, result.stderr
    _warned(result, "--resume", "--overwrite")
    assert runner.invoke(app, [*args, "--overwrite"]).exit_code == 0
    assert calls == [True, False]
    record = json.loads((tmp_path / "run" / "adstage-run.json").read_text())
    assert record["command"] == f"train {trainer}" and record["summary"]["step"] == 0
