"""Durability: the server is SIGKILLed while votes stream in; after a restart every vote it
acknowledged is in the study file exactly once, and the judges finish without a duplicate."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

JUDGES = 4


def _judge(url: str, token: str, acked: list[str], sent: list[str], stop: threading.Event) -> None:
    """Vote through ``token``'s items until done, stopped or the server is gone."""
    with httpx.Client(base_url=url, timeout=10) as client:
        while not stop.is_set():
            try:
                data = client.get(f"/api/j/{token}/next").json()
                if data["done"]:
                    return
                key = data["item"]["key"]
                sent.append(key)
                vote = client.post(
                    f"/api/j/{token}/vote", json={"item": key, "choice": "left", "ms": 5}
                )
            except httpx.TransportError:
                return
            if vote.status_code == 201:
                acked.append(key)
            else:
                assert vote.status_code == 409, vote.text  # only after a restart


def _stored(db: Path) -> list[tuple[str, str]]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return conn.execute(
            "SELECT j.token, a.item_key FROM votes v JOIN judges j ON j.id = v.judge_id"
            " JOIN assignments a ON a.judge_id = v.judge_id AND a.item_id = v.item_id"
        ).fetchall()


def _run(url: str, tokens: list[str], stop: threading.Event):
    acked: dict[str, list[str]] = {t: [] for t in tokens}
    sent: dict[str, list[str]] = {t: [] for t in tokens}
    threads = [
        threading.Thread(target=_judge, args=(url, t, acked[t], sent[t], stop), daemon=True)
        for t in tokens
    ]
    for thread in threads:
        thread.start()
    return threads, acked, sent


def test_acknowledged_votes_survive_a_kill(make_study, study_assignments, server, tmp_path) -> None:
    db = make_study("pairwise", items=24, judges=JUDGES, checks=1)
    tokens = list(study_assignments(db))
    total = JUDGES * 25
    log = tmp_path / "server.log"
    stop = threading.Event()
    with server(db, log) as (process, url):
        threads, acked, sent = _run(url, tokens, stop)
        deadline = time.monotonic() + 60
        while sum(map(len, acked.values())) < total // 3 and time.monotonic() < deadline:
            time.sleep(0.005)
        process.kill()  # SIGKILL, mid-stream: the judges are still sending
        process.wait(timeout=10)
        for thread in threads:
            thread.join(timeout=20)
    assert not any(thread.is_alive() for thread in threads)
    n_acked = sum(map(len, acked.values()))
    assert total // 3 <= n_acked < total, "the kill came after the study was over"

    stored = _stored(db)
    assert len(stored) == len(set(stored)), "a vote was stored twice"
    for token in tokens:
        assert {(token, key) for key in acked[token]} <= set(stored), "an acknowledged vote is lost"
        mine = {key for t, key in stored if t == token}
        # beyond what was acknowledged, at most the one vote in flight when the server died
        assert mine - set(acked[token]) <= set(sent[token][-1:])

    with server(db, log) as (_, url):
        with httpx.Client(base_url=url) as client:  # a retried acknowledged vote is refused
            token = tokens[0]
            retry = client.post(
                f"/api/j/{token}/vote", json={"item": acked[token][0], "choice": "right"}
            )
            assert retry.status_code == 409
        threads, more, _ = _run(url, tokens, threading.Event())
        for thread in threads:
            thread.join(timeout=60)
    stored_after = _stored(db)
    assert len(stored_after) == len(set(stored_after)) == total
    assert set(stored) <= set(stored_after)
    for token in tokens:  # nothing was acknowledged twice across the two servers
        assert not set(acked[token]) & set(more[token])
