"""What a judge (or anyone with a browser) cannot do: use no token or a wrong one, vote twice,
touch another judge's items, reach a file by its path, send oversized or malformed bodies, see
a traceback or anyone's votes."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
from fastapi.testclient import TestClient

from adstage.serve.study import app as study_app
from adstage.serve.study.app import MAX_BODY, create_app
from adstage.serve.study.store import Study


@pytest.fixture
def study(make_study, study_assignments) -> tuple[TestClient, Path, list[str], dict]:
    db = make_study("pairwise", items=3, judges=2, checks=0)
    plan = study_assignments(db)
    return TestClient(create_app(db), follow_redirects=False), db, list(plan), plan


def _error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code
    assert "Traceback" not in response.text and 'File "' not in response.text


def _votes(db: Path) -> int:
    with Study(db) as s:
        return len(s.votes())


def test_no_token_or_a_wrong_token_sees_nothing(study) -> None:
    client, db, tokens, plan = study
    key = plan[tokens[0]][0]["key"]
    for path in ("/", "/j", "/j/", "/api/j//next", "/api/j/next"):
        _error(client.get(path), 404, "not_found")
    wrong = tokens[0][:-1] + ("A" if tokens[0][-1] != "A" else "B")
    for token in (wrong, "short", "x" * 65, "a" * 32, "токен-токен-токен"):
        _error(client.get(f"/j/{token}"), 404, "unknown_token")
        _error(client.get(f"/api/j/{token}/next"), 404, "unknown_token")
        _error(client.get(f"/api/j/{token}/image/{key}/1"), 404, "unknown_token")
        vote = client.post(f"/api/j/{token}/vote", json={"item": key, "choice": "left"})
        _error(vote, 404, "unknown_token")
    assert _votes(db) == 0


def test_a_second_vote_is_409_and_changes_nothing(study) -> None:
    client, db, tokens, plan = study
    key = plan[tokens[0]][0]["key"]
    first = client.post(f"/api/j/{tokens[0]}/vote", json={"item": key, "choice": "left"})
    assert first.status_code == 201
    for choice in ("left", "right"):
        again = client.post(f"/api/j/{tokens[0]}/vote", json={"item": key, "choice": choice})
        _error(again, 409, "already_voted")
    with Study(db) as s:
        assert [(v.judge, v.choice) for v in s.votes()] == [
            ("judge-1", plan[tokens[0]][0]["display"][0])
        ]


def test_another_judges_item_is_out_of_reach(study) -> None:
    client, db, tokens, plan = study
    theirs = plan[tokens[1]][0]["key"]
    _error(client.get(f"/api/j/{tokens[0]}/image/{theirs}/1"), 404, "unknown_item")
    vote = client.post(f"/api/j/{tokens[0]}/vote", json={"item": theirs, "choice": "left"})
    _error(vote, 404, "unknown_item")
    assert _votes(db) == 0
    assert client.get(f"/api/j/{tokens[1]}/image/{theirs}/1").status_code == 200


def test_a_judge_never_sees_anyone_elses_votes(study) -> None:
    client, _, tokens, plan = study
    before = client.get(f"/api/j/{tokens[1]}/next").json()
    for item in plan[tokens[0]]:
        client.post(f"/api/j/{tokens[0]}/vote", json={"item": item["key"], "choice": "left"})
    after = client.get(f"/api/j/{tokens[1]}/next").json()
    assert after == before and after["progress"]["done"] == 0
    assert set(after) == {"protocol", "question", "progress", "done", "item"}
    assert set(after["item"]) == {"key", "images", "choices"}
    for path in ("/docs", "/redoc", "/openapi.json", f"/api/j/{tokens[0]}/votes", "/api/votes"):
        _error(client.get(path), 404, "not_found")
    _error(client.get(f"/api/j/{tokens[0]}/vote"), 405, "method_not_allowed")


@pytest.mark.parametrize(
    "path",
    [
        "/static/../store.py",
        "/static/..%2fstore.py",
        "/static/%2e%2e%2f%2e%2e%2fstore.py",
        "/static/judge.html",
        "/static/study.js%00.png",
        "/j/..%2F..%2Fetc%2Fpasswd",
        "/j/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/api/j/{token}/image/..%2F..%2Fetc%2Fpasswd/1",
        "/api/j/{token}/image/{key}/..%2F1",
        "/api/j/{token}/image/{key}/0",
        "/api/j/{token}/image/{key}/3",
        "/api/j/{token}/image/{key}/-1",
        "/api/j/{token}/image/{key}/1e1",
        "/api/j/{token}/image/{key}/99999999999999999999",
        "/api/j/{token}/image/{key}%20OR%201=1/1",
        "/api/j/{token}/image/%27%20OR%20%271%27=%271/1",
        "/api/j/..%2F{token}/next",
    ],
)
def test_paths_reach_nothing_but_their_route(study, path: str) -> None:
    client, _, tokens, plan = study
    url = path.format(token=tokens[0], key=plan[tokens[0]][0]["key"])
    response = client.get(url)
    assert response.status_code == 404, (url, response.status_code)
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["code"] in {"not_found", "unknown_item", "unknown_token"}


def test_oversized_and_malformed_bodies_are_refused(study) -> None:
    client, db, tokens, plan = study
    url = f"/api/j/{tokens[0]}/vote"
    key = plan[tokens[0]][0]["key"]
    json_type = {"content-type": "application/json"}
    big = b'{"item": "' + b"a" * MAX_BODY + b'", "choice": "left"}'
    _error(client.post(url, content=big, headers=json_type), 413, "too_large")

    def chunks():
        for _ in range(64):
            yield b" " * 1024

    _error(client.post(url, content=chunks(), headers=json_type), 413, "too_large")  # no length
    _error(
        client.post(url, content=b"{}", headers={**json_type, "content-length": "x"}),
        413,
        "too_large",
    )
    for body in (
        b"",
        b"{",
        b"[]",
        b"null",
        b'"left"',
        b'{"item": "' + key.encode() + b'"}',
        b'{"choice": "left"}',
        b'{"item": 5, "choice": "left"}',
        b'{"item": "' + key.encode() + b'", "choice": "left", "ms": "12"}',
        b'{"item": "' + key.encode() + b'", "choice": "left", "ms": -1}',
        b'{"item": "' + key.encode() + b'", "choice": "left", "token": "x"}',
        b'{"item": "' + key.encode() + b'", "choice": "' + b"l" * 17 + b'"}',
        b"\xff\xfe{}",
    ):
        _error(client.post(url, content=body, headers=json_type), 400, "bad_request")
    _error(client.post(url, json={"item": key, "choice": "up"}), 400, "bad_choice")
    _error(
        client.post(url, json={"item": "../../etc/passwd", "choice": "left"}), 404, "unknown_item"
    )
    _error(client.post(url, json={"item": "a" * 20, "choice": "left"}), 404, "unknown_item")
    form = client.post(url, data={"item": key, "choice": "left"})  # a cross-site form post
    _error(form, 415, "unsupported_media_type")
    _error(
        client.post(url, content=b'{"item": "x", "choice": "left"}'), 415, "unsupported_media_type"
    )
    assert _votes(db) == 0


def test_every_response_carries_the_security_headers(study) -> None:
    client, _, tokens, plan = study
    urls = [f"/j/{tokens[0]}", f"/api/j/{tokens[0]}/next", "/static/study.js", "/nowhere"]
    urls.append(f"/api/j/{tokens[0]}/image/{plan[tokens[0]][0]['key']}/1")
    for url in urls:
        headers = client.get(url).headers
        assert "script-src 'self'" in headers["content-security-policy"]
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        expected = "private, max-age=86400" if "/image/" in url else "no-store"
        assert headers["cache-control"] == expected
        assert "server" not in headers


def test_an_internal_error_is_json_without_a_traceback(study, monkeypatch) -> None:
    _, db, tokens, _ = study

    def broken(self, judge):
        raise RuntimeError("secret internals at /home/someone/study.db")

    monkeypatch.setattr(Study, "progress", broken)
    client = TestClient(create_app(db), raise_server_exceptions=False)
    response = client.get(f"/api/j/{tokens[0]}/next")
    _error(response, 500, "internal")
    assert "secret" not in response.text and "RuntimeError" not in response.text


def test_the_app_refuses_a_file_that_is_not_a_study(tmp_path: Path) -> None:
    from adstage.errors import InputError

    with pytest.raises(InputError, match="no such study file"):
        create_app(tmp_path / "nothing.db")
    assert study_app.MAX_BODY == MAX_BODY
