"""Batch staging re-drawn by a diffusion model (``adstage batch stage --refine-base``) on a tiny
random SD-shaped folder: the settings travel as a RefineSpec, each worker process loads the model
once, the base's weights by content are part of the config (a moved base resumes, other weights
re-do), and every bad setting is one clear error before any product is staged."""

from __future__ import annotations

import dataclasses
import json
import pickle
import shutil
from pathlib import Path

import pytest
from batch_shop import FAST, N_PRODUCTS, check_outputs
from typer.testing import CliRunner

pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from adstage.batch import Item, iter_items, stage_batch
from adstage.batch.stage import StageWork
from adstage.cli import app
from adstage.cli._staging import REFINE_DEFAULTS
from adstage.errors import InputError
from adstage.generate.refine import RefineSpec
from tiny_sd import write_sd_folder

pytestmark = pytest.mark.usefixtures("one_torch_thread")

QUICK = {"steps": 2, "strength": 0.5, "resolution": 64, "max_resolution": 64}
"""One DDIM step over windows of at most 64 px: a tiny model refines a product in well under a
second."""


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sd_folder(tmp_path_factory.mktemp("refine-base") / "sd")


def _refined(out: Path) -> list[dict]:
    """The ``composite.refine`` record of every done item's best candidate."""
    records = []
    for row in check_outputs(out):
        manifest = json.loads((out / row["output"] / "manifest.json").read_text())
        records.append(manifest["candidates"][0]["provenance"]["composite"]["refine"])
    return records


def test_a_batch_refines_every_product_and_resumes_by_the_weights_content(
    shop: Path, base: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    items = list(iter_items(shop / "products.csv"))
    plain = stage_batch(items, shop / "catalog", tmp_path / "plain", **FAST)
    spec = RefineSpec(str(base), **QUICK)
    first = stage_batch(items, shop / "catalog", out, **FAST, refine=spec)
    assert first.done == plain.done >= 1 and first.done + first.failed == N_PRODUCTS
    assert first.config != plain.config
    records = _refined(out)
    assert len(records) == first.done
    assert all(r["backend"] == "sd-blended-latent" and r["steps_run"] == 1 for r in records)
    assert all(r["pixels_changed"] > 0 for r in records)

    # the same weights in another folder: everything is done already
    moved = tmp_path / "moved-sd"
    shutil.copytree(base, moved)
    again = stage_batch(
        items, shop / "catalog", out, **FAST, refine=dataclasses.replace(spec, base=str(moved))
    )
    assert again.config == first.config and again.skipped == first.done and again.done == 0
    # other weights (one file rewritten) or another setting: staged again
    weights = moved / "unet" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b"\0")
    other = StageWork.for_catalog(
        shop / "catalog", options=FAST | {"refine": dataclasses.replace(spec, base=str(moved))}
    )
    assert (
        other.config()
        != StageWork.for_catalog(shop / "catalog", options=FAST | {"refine": spec}).config()
    )
    stronger = stage_batch(
        items, shop / "catalog", out, **FAST, refine=dataclasses.replace(spec, strength=1.0)
    )
    assert stronger.config != first.config and stronger.done == first.done


def test_the_refiner_loads_once_per_process_and_never_travels(shop: Path, base: Path) -> None:
    work = StageWork.for_catalog(
        shop / "catalog", options=FAST | {"refine": {"base": str(base), **QUICK}}
    )
    assert isinstance(work.refine, RefineSpec)  # a dict of its fields is accepted
    work.setup()
    loaded = work._refiner
    assert loaded is not None and loaded.strength == 0.5 and loaded.steps == 2
    work.setup()  # once per process: a second setup keeps the model
    assert work._refiner is loaded
    sent = pickle.loads(pickle.dumps(work))  # what a worker process receives
    assert sent._refiner is None and sent.refine == work.refine
    assert len(pickle.dumps(work)) < 100_000  # settings, not weights


def test_bad_refine_options_are_named_before_any_product(shop: Path, base: Path, tmp_path) -> None:
    def loaded(composite, background, product, hole=None, protect=None):
        return composite, {}

    for refine, message in (
        (loaded, "a RefineSpec or a dict of its fields"),
        ({"base": str(base), "strenght": 0.5}, "unexpected keyword argument 'strenght'"),
        (RefineSpec(str(base), strength=0.0), r"strength: expected a value in \(0, 1\]"),
        (RefineSpec(str(base), steps=1000), "steps: expected an integer in 1..999"),
        (RefineSpec(str(base), device="mps"), "device: expected cpu or cuda"),
        (RefineSpec(str(base), dtype="float8"), "dtype: expected one of"),
        (RefineSpec(str(tmp_path / "nowhere")), "does not exist"),
    ):
        with pytest.raises(InputError, match=message):
            StageWork(shop / "catalog", options={"refine": refine})
    with pytest.raises(InputError, match="which product_exact keeps"):
        StageWork(
            shop / "catalog",
            options={"refine": RefineSpec(str(base), refine_product=True), "product_exact": True},
        )
    for removed, message in (
        ("vae/diffusion_pytorch_model.safetensors", "has no weights in vae/"),
        ("tokenizer", "has no tokenizer"),
        ("unet/config.json", "has no unet/config.json"),
    ):
        partial = tmp_path / removed.replace("/", "-")
        shutil.copytree(base, partial)
        gone = partial / removed
        shutil.rmtree(gone) if gone.is_dir() else gone.unlink()
        with pytest.raises(InputError, match=message):
            StageWork(shop / "catalog", options={"refine": RefineSpec(str(partial))})
    for spec, message in (  # wrong types are bad input too, not a TypeError
        ({"base": None}, "base: expected a folder's path"),
        ({"base": 5}, "base: expected a folder's path"),
        ({"base": str(base), "strength": None}, "strength: expected a number"),
        ({"base": str(base), "strength": "x"}, "strength: expected a number"),
        ({"base": str(base), "device": "cuda:01"}, "device: expected cpu or cuda"),
        ({"base": str(base), "resolution": 1}, "resolution: expected an integer ≥ 2"),
    ):
        with pytest.raises(InputError, match=message):
            StageWork(shop / "catalog", options={"refine": spec})
    StageWork(shop / "catalog", options={"refine": None})  # off is fine
    # one spelling per setting: a torch dtype hashes as its name
    import torch

    by_name = StageWork(shop / "catalog", options={"refine": RefineSpec(str(base))})
    by_dtype = StageWork(
        shop / "catalog", options={"refine": RefineSpec(str(base), dtype=torch.float32)}
    )
    assert by_name.config() == by_dtype.config()


def _corrupt(base: Path, tmp_path: Path) -> Path:
    """A copy of ``base`` whose U-Net weights are cut short: every check passes, loading fails."""
    bad = tmp_path / "corrupt-sd"
    shutil.copytree(base, bad)
    weights = bad / "unet" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:200])
    return bad


@pytest.mark.parametrize("workers", [1, 2])
def test_a_model_a_worker_cannot_load_stops_the_run_with_its_reason(
    shop: Path, base: Path, tmp_path: Path, workers: int
) -> None:
    from adstage.batch import read_manifest
    from adstage.batch.runner import SetupFailed

    spec = RefineSpec(str(_corrupt(base, tmp_path)), **QUICK)
    with pytest.raises(SetupFailed, match="cannot load the U-Net") as caught:
        stage_batch(
            iter_items(shop / "products.csv"),
            shop / "catalog",
            tmp_path / "out",
            **FAST,
            refine=spec,
            workers=workers,
        )
    assert caught.value.reason.startswith("base: ")
    assert not list(read_manifest(tmp_path / "out")), "no item is failed (or done) for it"


@pytest.mark.long  # two spawned processes, each loading the model: `make test-load`
def test_two_worker_processes_refine_as_one_does(shop: Path, base: Path, tmp_path: Path) -> None:
    spec = RefineSpec(str(base), **QUICK)
    items = list(iter_items(shop / "products.csv"))
    one = stage_batch(items, shop / "catalog", tmp_path / "one", **FAST, refine=spec)
    two = stage_batch(items, shop / "catalog", tmp_path / "two", **FAST, refine=spec, workers=2)
    assert one.config == two.config and one.done == two.done >= 1
    rows = {r["input"]: r for r in check_outputs(tmp_path / "one")}
    for row in check_outputs(tmp_path / "two"):
        mine = rows[row["input"]]
        first = json.loads((tmp_path / "one" / mine["output"] / "manifest.json").read_text())
        best = first["candidates"][0]["path"]
        assert (tmp_path / "one" / mine["output"] / best).read_bytes() == (
            tmp_path / "two" / row["output"] / best
        ).read_bytes()


def test_the_cli_defaults_are_the_specs() -> None:
    fields = {f.name: f.default for f in dataclasses.fields(RefineSpec)}
    assert {k: fields[k] for k in REFINE_DEFAULTS} == REFINE_DEFAULTS


def test_cli_batch_stage_refines_records_the_weights_and_names_bad_flags(
    shop: Path, base: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    common = ["batch", "stage", "-c", str(shop / "catalog"), "--products", str(shop / "products.csv"),
              "-k", "1", "--inpainter", "telea", "--edges", "unmix"]  # fmt: skip
    refine = ["--refine-base", str(base), "--refine-steps", "2", "--refine-strength", "0.5",
              "--refine-resolution", "64", "--refine-max-resolution", "64"]  # fmt: skip
    result = runner.invoke(app, [*common, "-o", str(tmp_path / "out"), *refine])
    assert result.exit_code == 0, result.stderr
    run = json.loads((tmp_path / "out" / "adstage-run.json").read_text())
    recorded = run["config"]["refine"]
    assert recorded["base"] == str(base) and recorded["strength"] == 0.5
    assert set(recorded["weights_sha256"]) >= {
        "unet/diffusion_pytorch_model.safetensors",
        "vae/diffusion_pytorch_model.safetensors",
    }
    assert all(r["pixels_changed"] > 0 for r in _refined(tmp_path / "out"))
    for extra, message in (
        (["--refine-strength", "0.3"], "--refine-strength: needs --refine-base"),
        (["--device", "cuda"], "--device: needs --refine-base"),
        ([*refine, "--refine-strength", "0"], "--refine-strength: expected a value in (0, 1]"),
        ([*refine, "--device", "mps"], "--device: expected cpu or cuda[:N], got 'mps'"),
        ([*refine, "--refine-product", "--product-exact"], "--refine-product: re-draws"),
        (["--refine-base", str(tmp_path / "nowhere")], "--refine-base: "),
    ):
        bad = runner.invoke(app, [*common, "-o", str(tmp_path / "bad"), *extra])
        assert bad.exit_code == 2 and message in bad.stderr, (extra, bad.stderr)
        assert not (tmp_path / "bad" / "items").exists()
    corrupt = ["--refine-base", str(_corrupt(base, tmp_path)), *refine[2:]]
    bad = runner.invoke(app, [*common, "-o", str(tmp_path / "bad"), *corrupt])
    assert bad.exit_code == 2, bad.stderr
    assert "error: a worker could not load its models: --refine-base: " in bad.stderr
    assert "cannot load the U-Net" in bad.stderr


class _FakeRay:
    """Just enough of ``ray`` and ``ray.data`` for the runner's Ray engine to run in this
    process: each ``map_batches`` builds the callable class once and maps every row; its keyword
    arguments are kept in ``calls``."""

    def __init__(self, reach: bool = True) -> None:
        import types

        self.calls: list[dict] = []
        self.reach = reach
        self.module = types.ModuleType("ray")
        self.module.is_initialized = lambda: False
        self.module.init = self._init
        self.module.shutdown = lambda: None
        data = types.ModuleType("ray.data")
        data.DataContext = types.SimpleNamespace(
            get_current=lambda: types.SimpleNamespace(enable_progress_bars=True)
        )
        data.ActorPoolStrategy = lambda size: size
        data.from_items = self._from_items
        self.module.data = data

    def _init(self, **kwargs) -> None:
        if not self.reach:
            raise ConnectionError(f"no cluster at {kwargs.get('address')}")

    def _from_items(self, rows, override_num_blocks):
        fake = self

        class Dataset:
            def map_batches(self, fn, *, fn_constructor_kwargs, **kwargs):
                fake.calls.append(kwargs)
                actor = fn(**fn_constructor_kwargs)
                self.out = [actor({"task": [row["task"]]}) for row in rows]
                return self

            def iter_batches(self, **kwargs):
                yield from self.out

        return Dataset()


@pytest.fixture
def fake_ray(monkeypatch):
    import sys

    fake = _FakeRay()
    monkeypatch.setitem(sys.modules, "ray", fake.module)
    monkeypatch.setitem(sys.modules, "ray.data", fake.module.data)
    return fake


def test_the_ray_engine_asks_for_a_gpu_and_stops_on_a_failed_setup(
    shop: Path, base: Path, tmp_path: Path, fake_ray
) -> None:
    from adstage.batch.runner import SetupFailed

    items = list(iter_items(shop / "products.csv"))
    plain = stage_batch(items, shop / "catalog", tmp_path / "plain", **FAST, engine="ray")
    assert plain.done >= 1 and fake_ray.calls[-1]["num_gpus"] == 0
    with pytest.raises(SetupFailed, match="cannot load the U-Net"):
        stage_batch(
            items,
            shop / "catalog",
            tmp_path / "bad",
            **FAST,
            engine="ray",
            refine=RefineSpec(str(_corrupt(base, tmp_path)), **QUICK),
        )


def test_a_ray_clusters_driver_checks_the_device_by_its_spelling_only(
    shop: Path, base: Path, tmp_path: Path, fake_ray, monkeypatch
) -> None:
    import torch

    if torch.cuda.is_available():  # pragma: no cover - this project's machines have no GPU
        pytest.skip("tests the check of a driver without the workers' GPUs")
    cuda = RefineSpec(str(base), device="cuda:1", **QUICK)
    items = list(iter_items(shop / "products.csv"))
    with pytest.raises(InputError, match="CUDA is not available here"):  # a local Ray: here
        stage_batch(items, shop / "catalog", tmp_path / "a", **FAST, engine="ray", refine=cuda)
    # a cluster's driver gets past the check; each actor asks for a GPU and loads the refiner
    # on the one Ray gave it, cuda (an actor sees it as cuda:0), whatever index was named
    loaded: list[str] = []

    def load(spec: RefineSpec):
        loaded.append(spec.device)

        def refine(composite, background, product, hole=None, protect=None):
            return composite, {"stand-in": True}

        return refine

    monkeypatch.setattr(RefineSpec, "load", load)
    done = stage_batch(
        items,
        shop / "catalog",
        tmp_path / "b",
        **FAST,
        engine="ray",
        address="ray://head:10001",
        refine=cuda,
    )
    assert done.done >= 1 and fake_ray.calls[-1]["num_gpus"] == 1 and loaded == ["cuda"]
    fake_ray.reach = False
    with pytest.raises(ConnectionError, match="no cluster at ray://head:10001"):
        stage_batch(
            items, shop / "catalog", tmp_path / "c", **FAST, engine="ray",
            address="ray://head:10001", refine=cuda,
        )  # fmt: skip
    # the config names the device's type only: which GPU does not change a picture
    remote = StageWork(shop / "catalog", options={"refine": cuda}, device_here=False)
    assert remote.config()["options"]["refine"]["device"] == "cuda"


def test_the_cli_checks_a_clusters_device_by_spelling_only(
    shop: Path, base: Path, tmp_path: Path, fake_ray
) -> None:
    import torch

    if torch.cuda.is_available():  # pragma: no cover - this project's machines have no GPU
        pytest.skip("tests the check of a driver without the workers' GPUs")
    fake_ray.reach = False
    common = ["batch", "stage", "-c", str(shop / "catalog"), "--products",
              str(shop / "products.csv"), "-o", str(tmp_path / "out"), "--engine", "ray",
              "--refine-base", str(base), "--device", "cuda"]  # fmt: skip
    here = CliRunner().invoke(app, common)  # a local Ray: this machine's device
    assert here.exit_code == 2 and "--device: 'cuda' asked for" in here.stderr, here.stderr
    cluster = CliRunner().invoke(app, [*common, "--address", "ray://head:10001"])
    assert "no cluster at ray://head:10001" in cluster.stderr, cluster.stderr  # past the check


def test_the_config_covers_the_bases_configs_not_its_place(
    shop: Path, base: Path, tmp_path: Path
) -> None:
    def config(folder: Path) -> dict:
        return StageWork(shop / "catalog", options={"refine": RefineSpec(str(folder))}).config()

    copy = tmp_path / "copy"
    shutil.copytree(base, copy)
    assert config(copy) == config(base)
    unet = copy / "unet" / "config.json"
    unet.write_text(unet.read_text().replace('"sample_size": 16', '"sample_size": 32'))
    assert config(copy) != config(base)


def test_a_failed_setup_keeps_what_was_done_and_its_cause(tmp_path: Path, fake_ray) -> None:
    from adstage.batch import read_manifest
    from adstage.batch.manifest import Manifest
    from adstage.batch.runner import SetupFailed, Task, Work, run
    from adstage.errors import WeightsNotFound

    class SecondFails(Work):
        """Sets up once, then (a Ray chunk's new actor) finds its weights gone."""

        command = "second-fails"
        setups = 0

        def config(self):
            return {"w": 1}

        def setup(self):
            type(self).setups += 1
            if type(self).setups > 1:
                raise WeightsNotFound("u2net: not installed; adstage weights fetch u2net")

        def run(self, task: Task):
            return {}, {}, None

    class Holding:
        """A sink that holds outcomes until flushed (as batch ingest's does)."""

        def __init__(self):
            self.held = []

        def claim(self, task: Task) -> bool:
            return True

        def accept(self, outcome):
            self.held.append(outcome)
            return []

        def flush(self):
            held, self.held = self.held, []
            return [(o, "x") for o in held]

    items = []
    for i in range(4):
        path = tmp_path / f"{i}.png"
        path.write_bytes(bytes([i]) * 8)
        items.append(Item(path=str(path)))
    with (
        Manifest(tmp_path / "m.sqlite") as manifest,
        pytest.raises(SetupFailed, match="u2net: not installed"),
    ):
        run(items, SecondFails(), Holding(), manifest, engine="ray", chunk=2)
    done = [r for r in read_manifest(tmp_path / "m.sqlite") if r["status"] == "done"]
    assert len(done) == 2  # the first chunk's, held by the sink, committed before the stop
    SecondFails.setups = 1  # in the driver's process the original error is the cause
    with (
        Manifest(tmp_path / "n.sqlite") as manifest,
        pytest.raises(SetupFailed) as caught,
    ):
        run(items, SecondFails(), Holding(), manifest)
    assert isinstance(caught.value.__cause__, WeightsNotFound)


def test_a_ray_driver_checks_the_device_by_its_spelling_and_asks_for_a_gpu(
    shop: Path, base: Path
) -> None:
    import torch

    if torch.cuda.is_available():  # pragma: no cover - this project's machines have no GPU
        pytest.skip("tests the check of a driver without the workers' GPUs")
    cuda = {"refine": RefineSpec(str(base), device="cuda")}
    with pytest.raises(InputError, match="CUDA is not available here"):
        StageWork(shop / "catalog", options=cuda)  # the local engine loads it here
    remote = StageWork(shop / "catalog", options=cuda, device_here=False)
    assert remote.gpus == 1 and remote.config()["options"]["refine"]["device"] == "cuda"
    with pytest.raises(InputError, match="device: expected cpu or cuda"):
        StageWork(
            shop / "catalog",
            options={"refine": RefineSpec(str(base), device="cuda:x")},
            device_here=False,
        )
    assert StageWork(shop / "catalog", options={"refine": RefineSpec(str(base))}).gpus == 0
    assert StageWork(shop / "catalog", options={}).gpus == 0
