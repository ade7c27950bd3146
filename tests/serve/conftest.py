"""Shared inputs of the study tests: generated pictures, item CSVs, study files, a live server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from study_helpers import assignments, picture, running_server, write_csv

from adstage.io.images import write_image
from adstage.serve.study.store import create_study


@pytest.fixture
def make_study(tmp_path: Path) -> Callable[..., Path]:
    """``make_study(protocol, items=4, judges=3, checks=1, n=3, **kwargs)``: a study file.

    Items are ``p1…``; each image column of item ``i`` is its own picture (``img-i-j.png``);
    attention checks are ``c1…`` with answer ``left`` / ``real`` / ``image1``.
    """
    counter = iter(range(1000))

    def make(
        protocol: str = "pairwise",
        *,
        items: int = 4,
        judges: int = 3,
        checks: int = 1,
        n: int = 3,
        labels: list[str] | None = None,
        **kwargs: Any,
    ) -> Path:
        folder = tmp_path / f"study-{next(counter)}"
        (folder / "images").mkdir(parents=True)
        columns = {"pairwise": ["left", "right"], "g2r": ["image"]}.get(
            protocol, [f"image{j}" for j in range(1, n + 1)]
        )
        label = {"pairwise": "kind", "g2r": "truth"}.get(protocol)

        def rows(prefix: str, count: int, seed: int) -> list[list[Any]]:
            out = []
            for i in range(1, count + 1):
                paths = []
                for j in range(len(columns)):
                    name = f"images/{prefix}{i}-{j}.png"
                    write_image(folder / name, picture(seed + 10 * i + j))
                    paths.append(name)
                out.append([f"{prefix}{i}", *paths])
            return out

        header = ["id", *columns]
        item_rows = rows("p", items, 0)
        if labels is not None and label is not None:
            header.append(label)
            for row, value in zip(item_rows, labels, strict=True):
                row.append(value)
        items_csv = write_csv(folder / "items.csv", header, item_rows)
        if checks:
            answer = {"pairwise": "left", "g2r": "real"}.get(protocol, "image1")
            check_rows = [[*row, answer] for row in rows("c", checks, 5000)]
            kwargs["attention_checks"] = write_csv(
                folder / "checks.csv", ["id", *columns, "answer"], check_rows
            )
        return create_study(
            folder / "study.db", protocol=protocol, items=items_csv, judges=judges, **kwargs
        ).path

    return make


@pytest.fixture
def study_assignments() -> Callable[[Path], dict[str, list[dict[str, Any]]]]:
    return assignments


@pytest.fixture
def server() -> Callable[..., Any]:
    return running_server
