"""Test-wide settings: the default run never sees this machine's weight cache."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_weights(request: pytest.FixtureRequest, tmp_path_factory, monkeypatch) -> None:
    """Point ``ADSTAGE_WEIGHTS`` at an empty folder unless the test is marked ``weights``.

    So the default run behaves the same on a fresh CI machine as on one with weights fetched.
    """
    if request.node.get_closest_marker("weights") is None:
        monkeypatch.setenv("ADSTAGE_WEIGHTS", str(tmp_path_factory.mktemp("no-weights")))


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module of tiny models (``pytestmark = usefixtures(...)``): on a busy
    2-core machine two spinning OpenMP threads made 64×64 U²-Net passes ~70× and EfficientNet
    passes ~3× slower. The count is restored afterwards for other modules."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
