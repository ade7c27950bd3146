"""The study's HTTP API and pages through FastAPI's TestClient: a whole study judged over HTTP,
resuming, the thank-you page, and what a screen choice counts for."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
from fastapi.testclient import TestClient

from adstage.serve.study.app import create_app
from adstage.serve.study.stats import study_results
from adstage.serve.study.store import Study


def _client(db: Path) -> TestClient:
    return TestClient(create_app(db), follow_redirects=False)


def test_three_judges_judge_a_pairwise_study_over_http(make_study, study_assignments) -> None:
    db = make_study("pairwise", items=4, judges=3, checks=1)
    client = _client(db)
    plan = study_assignments(db)
    # every judge picks the CSV's left image, except judge 3 on p4
    for number, (token, items) in enumerate(plan.items(), start=1):
        assert client.get(f"/j/{token}").status_code == 200
        for step, expected in enumerate(items):
            data = client.get(f"/api/j/{token}/next").json()
            assert data["progress"] == {"done": step, "total": 5} and not data["done"]
            assert data["protocol"] == "pairwise" and data["question"]
            item = data["item"]
            assert item["key"] == expected["key"]
            assert [c["key"] for c in item["choices"]] == ["ArrowLeft", "ArrowRight"]
            for url in item["images"]:
                image = client.get(url)
                assert image.status_code == 200 and image.headers["content-type"] == "image/png"
            column = 1 if (number == 3 and expected["name"] == "p4") else 0
            side = "left" if expected["display"][0] == column else "right"
            vote = client.post(f"/api/j/{token}/vote", json={"item": item["key"], "choice": side})
            assert vote.status_code == 201, vote.text
            assert vote.json()["progress"]["done"] == step + 1
        final = client.get(f"/api/j/{token}/next").json()
        assert final["done"] and "item" not in final
        page = client.get(f"/j/{token}")
        assert page.status_code == 303 and page.headers["location"] == f"/j/{token}/done"
        thanks = client.get(f"/j/{token}/done")
        assert thanks.status_code == 200 and "Thank you" in thanks.text
    with Study(db) as study:
        result = study_results(study)
    assert [i["majority"] for i in result["items"]] == ["left"] * 4
    assert result["items"][3]["counts"] == {"left": 2, "right": 1}
    assert result["votes"] == result["expected_votes"] == 15
    assert result["excluded_judges"] == []


def test_a_judge_resumes_where_they_stopped(make_study, study_assignments) -> None:
    db = make_study("g2r", items=3, judges=1, checks=0)
    token, items = next(iter(study_assignments(db).items()))
    client = _client(db)
    key = client.get(f"/api/j/{token}/next").json()["item"]["key"]
    assert (
        client.post(f"/api/j/{token}/vote", json={"item": key, "choice": "real"}).status_code == 201
    )
    assert client.get(f"/j/{token}/done").headers["location"] == f"/j/{token}"  # not done yet
    again = _client(db).get(f"/api/j/{token}/next").json()  # a new server, the same file
    assert again["progress"] == {"done": 1, "total": 3}
    assert again["item"]["key"] == items[1]["key"] != key
    assert [c["value"] for c in again["item"]["choices"]] == ["real", "generated"]
    assert len(again["item"]["images"]) == 1


def test_best_of_n_numbers_the_images_in_screen_order(make_study, study_assignments) -> None:
    db = make_study("best-of-n", items=1, judges=1, checks=0, n=4)
    token, (item,) = next(iter(study_assignments(db).items()))
    client = _client(db)
    data = client.get(f"/api/j/{token}/next").json()["item"]
    assert [c["key"] for c in data["choices"]] == ["1", "2", "3", "4"]
    with Study(db) as study:
        judge = study.judge(token)
        expected = [study.image(judge, item["key"], p)[0] for p in range(1, 5)]
    assert [client.get(url).content for url in data["images"]] == expected
    vote = client.post(f"/api/j/{token}/vote", json={"item": data["key"], "choice": "2"})
    assert vote.status_code == 201 and vote.json()["done"]
    with Study(db) as study:
        assert study.votes()[0].choice == item["display"][1]


def test_the_page_and_its_static_files(make_study, study_assignments) -> None:
    db = make_study("pairwise", items=1, judges=1, checks=0)
    token = next(iter(study_assignments(db)))
    client = _client(db)
    page = client.get(f"/j/{token}")
    assert page.headers["content-type"].startswith("text/html")
    assert '<script src="/static/study.js"' in page.text and "/static/study.css" in page.text
    script = client.get("/static/study.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith(
        "text/javascript"
    )
    assert "ArrowLeft" not in script.text  # the keys come from the API, not the script
    assert client.get("/static/study.css").headers["content-type"].startswith("text/css")
    assert client.get("/healthz").json() == {"ok": True}
