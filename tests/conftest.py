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
