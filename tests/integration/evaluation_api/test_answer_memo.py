"""Answers remembered per compiled config (`cache.AnswerMemo`): a repeated request body is
answered from the memo, a config change is answered afresh, each SDK key keeps its own OFREP
event stream link, and the memo holds bytes only, bounded, the oldest entries going first."""

from __future__ import annotations

import gc
from typing import Any

import orjson

from avsb.server.evaluation_api.cache import (
    JOINED_BYTES,
    MEMO_BYTES,
    MEMO_MAX_BODY,
    AnswerMemo,
    CompiledProject,
    JoinedAnswers,
    content_etag,
)
from avsb.server.evaluation_api.ofrep_routes import _entry
from avsb_sdk.evaluation import evaluate_flags
from tests.integration.design import factories as f
from tests.integration.evaluation_api.support import (
    SdkKey,
    abc,
    bearer,
    create_sdk_key,
    runtime,
    settle,
)
from tests.support.servers import ApiClient, LiveServer

Json = dict[str, Any]


def _compiled(server: LiveServer, project_id: str) -> CompiledProject:
    entry = runtime(server).evaluation.cache.get(project_id)
    assert entry is not None
    return entry


def _answers(org: ApiClient, key: SdkKey, flag: str, unit: str) -> dict[str, Json]:
    """One answer from each memoised route for `unit`."""
    context = {"context": {"targetingKey": unit, "country": "US"}}
    body = {"project_id": key.project_id, "unit_id": unit}
    out: dict[str, Json] = {
        "abc experiments": abc(org, "get_experiments", key, body).json(),
        "abc flags": abc(org, "get_feature_flags", key, {**body, "feature_names": [flag]}).json(),
    }
    for name, path, sent in (
        ("ofrep single", f"/ofrep/v1/evaluate/flags/{flag}", context),
        ("ofrep bulk", "/ofrep/v1/evaluate/flags", context),
        ("sdk evaluate", "/api/sdk/evaluate", {"unit_id": unit, "attributes": {"country": "US"}}),
    ):
        r = org.post(path, json=sent, headers=bearer(key))
        assert r.status_code == 200, r.text
        out[name] = r.json()
    return out


def test_repeated_body__remembered_answer__a_config_change_answers_afresh(
    org: ApiClient, live_server: LiveServer
) -> None:
    pid = f.create_project(org)["id"]
    experiment = f.create_experiment(org, pid, traffic_percent=100)
    f.act(org, experiment["id"], "start")
    flag = f.create_flag(org, pid, experiment_id=experiment["id"], experiment_param="color",
                         default_value="grey")  # fmt: skip
    key = create_sdk_key(org, pid)
    settle(live_server)

    # A rebuild of the same revision (a later change poll may make one) starts a new, empty
    # memo: count only over a stretch in which the entry stayed the same.
    for _ in range(5):
        entry = _compiled(live_server, pid)
        first = _answers(org, key, flag["key"], "u-memo")
        again = _answers(org, key, flag["key"], "u-memo")
        if _compiled(live_server, pid) is entry:
            break
    assert _compiled(live_server, pid) is entry
    assert len(entry.answers) == 5  # one answer per route, replayed the second time
    assert again == first
    assert first["ofrep single"]["metadata"]["experiment_key"] == experiment["key"]
    assert first["abc experiments"]["exp_data"]  # the unit is in the experiment

    # Stopping the experiment changes every answer: none may come from the old config's memo.
    f.act(org, experiment["id"], "stop", {"winner": None, "reason": "memo test"})
    settle(live_server)
    after = _answers(org, key, flag["key"], "u-memo")
    assert "experiment_key" not in after["ofrep single"]["metadata"]
    assert after["ofrep single"]["value"] == "grey"
    assert after["abc flags"]["data"] != first["abc flags"]["data"]
    assert after["abc experiments"]["exp_data"] != first["abc experiments"]["exp_data"]
    assert after["sdk evaluate"] != first["sdk evaluate"]
    assert after["ofrep bulk"]["flags"] != first["ofrep bulk"]["flags"]


def test_bulk__each_key_its_own_event_stream_link(org: ApiClient, live_server: LiveServer) -> None:
    pid = f.create_project(org)["id"]
    f.create_flag(org, pid, default_value="grey")
    web, app = create_sdk_key(org, pid, "web"), create_sdk_key(org, pid, "app")
    settle(live_server)
    body = {"context": {"targetingKey": "u1"}}
    links = []
    for key in (web, app, web):
        r = org.post("/ofrep/v1/evaluate/flags", json=body, headers=bearer(key))
        assert r.status_code == 200, r.text
        links.append(r.json()["eventStreams"][0]["endpoint"]["requestUri"])
    assert links[0] == links[2] != links[1]
    hub = runtime(live_server).evaluation.streams
    assert hub is not None
    for key, link in zip((web, app), links, strict=False):
        assert hub.signed_key(link.partition("token=")[2]) == (key.id, pid)


def test_bulk__never_seen_units_share_the_joined_answers_and_their_etags(
    org: ApiClient, live_server: LiveServer
) -> None:
    """Bulk answers for 120 never-seen units: each one the whole answer encoded, its ETag the
    body's own, and the config keeps one joined answer per combination of flag answers that
    the units met (a 50% rollout and a 100% experiment flag: a few), not one per unit."""
    pid = f.create_project(org)["id"]
    experiment = f.create_experiment(org, pid, traffic_percent=100)
    f.act(org, experiment["id"], "start")
    f.create_flag(org, pid, experiment_id=experiment["id"], experiment_param="color",
                  default_value="grey")  # fmt: skip
    f.create_flag(org, pid, type="boolean", default_value=False,
                  rules=[{"rollout_percent": 50, "value": True}])  # fmt: skip
    f.create_flag(org, pid, default_value="static")
    key = create_sdk_key(org, pid)
    settle(live_server)
    link = runtime(live_server).evaluation.streams
    assert link is not None
    expected_link = link.ofrep_link(key.id, pid)
    # A rebuild of the same revision (a later change poll may make one) starts new, empty
    # tables: count only over a stretch of 120 units in which the entry stayed the same.
    met: set[bytes] = set()  # over every attempt (a rebuilt entry may have served some)
    for attempt in range(5):
        entry = _compiled(live_server, pid)
        remembered_before = len(entry.answers)
        combinations = set()
        for i in range(120):
            unit = f"joined-{attempt}-{i}"
            context = {"targetingKey": unit, "country": "US"}
            r = org.post("/ofrep/v1/evaluate/flags", json={"context": context},
                         headers=bearer(key))  # fmt: skip
            assert r.status_code == 200, r.text
            flags = evaluate_flags(entry.compiled, unit, {"country": "US"})
            whole = {"flags": [_entry(entry, v) for v in flags.values()],
                     "eventStreams": expected_link}  # fmt: skip
            assert r.content == orjson.dumps(whole)
            assert r.headers["etag"] == content_etag(r.content)
            combinations.add(r.content)
        met |= combinations
        if _compiled(live_server, pid) is entry:
            break
    assert _compiled(live_server, pid) is entry
    assert len(combinations) >= 2  # both variants, or the rollout in and out, were met
    # One joined answer per combination met, one key: not one per unit.
    assert len(combinations) <= len(entry.bulk_answers) <= len(met)
    assert len(entry.answers) - remembered_before == 120  # the memo still keeps each body


def test_failures_are_not_remembered(org: ApiClient, live_server: LiveServer) -> None:
    pid = f.create_project(org)["id"]
    key = create_sdk_key(org, pid)
    settle(live_server)
    for _ in range(2):
        r = org.post("/ofrep/v1/evaluate/flags/absent", json={"context": {}},
                     headers=bearer(key))  # fmt: skip
        assert r.status_code == 404
    assert len(_compiled(live_server, pid).answers) == 0
    # The flag created afterwards is answered: a new config, and no failure was remembered.
    f.create_flag(org, pid, key="absent", default_value="there")
    settle(live_server)
    r = org.post("/ofrep/v1/evaluate/flags/absent", json={"context": {}}, headers=bearer(key))
    assert r.status_code == 200, r.text
    assert r.json()["value"] == "there"


def test_remembered_answer__bytes_only_untracked_by_the_garbage_collector(
    org: ApiClient, live_server: LiveServer
) -> None:
    """A memo of thousands of answers must cost the garbage collector nothing (held as
    objects, they made each full collection stall every request for 50-70 ms; held as
    tuples, they were tracked until a collection had seen them): an entry is the answer's
    bytes under the request's bytes, in a dict the collector does not track."""
    pid = f.create_project(org)["id"]
    experiment = f.create_experiment(org, pid, traffic_percent=100)
    f.act(org, experiment["id"], "start")
    key = create_sdk_key(org, pid)
    settle(live_server)
    raw = orjson.dumps({"unit_id": "u-gc", "attributes": {"country": "US", "tags": ["a", "b"]}})
    headers = {**bearer(key), "Content-Type": "application/json"}
    r = org.post("/api/sdk/evaluate", content=raw, headers=headers)
    assert r.status_code == 200, r.text
    memo = _compiled(live_server, pid).answers
    assert memo.get("sdk", raw) == r.content
    assert not any(gc.is_tracked(table) for table in memo._routes.values())


def _filled(memo: AnswerMemo, first: int, count: int, body: bytes) -> list[bytes]:
    raws = [b"%0100d" % i for i in range(first, first + count)]
    for raw in raws:
        memo.put("r", raw, body)
    return raws


def test_memo_bounds__the_oldest_entries_go_first() -> None:
    memo = AnswerMemo()
    body = b"x" * 1000
    memo.put("r", b"y" * (MEMO_MAX_BODY + 1), body)
    assert len(memo) == 0  # a large body is not kept
    memo.put("r", b"z", b"x" * MEMO_BYTES)
    assert len(memo) == 0  # nor an answer larger than the whole memo
    per_entry = 1000 + 100
    fits = MEMO_BYTES // per_entry
    raws = _filled(memo, 0, fits, body)
    assert len(memo) == fits
    assert all(memo.get("r", raw) == body for raw in raws)
    assert memo.get("other route", raws[0]) is None
    more = _filled(memo, fits, 3, body)  # over the bound: the three oldest make room
    assert len(memo) == fits
    assert [memo.get("r", raw) for raw in raws[:3]] == [None] * 3
    assert all(memo.get("r", raw) == body for raw in raws[3:] + more)
    memo.put("r", more[0], body)  # already there: kept once, nothing evicted
    assert len(memo) == fits
    assert memo.get("r", raws[3]) == body
    big = b"x" * (3 * per_entry - 100)  # with its 100-byte request: the size of three entries
    memo.put("s", b"%0100d" % -1, big)
    free = MEMO_BYTES - fits * per_entry
    evicted = -(-(3 * per_entry - free) // per_entry)  # as few of the oldest as make room
    assert len(memo) == fits - evicted + 1
    assert [memo.get("r", raw) for raw in raws[3 : 3 + evicted]] == [None] * evicted
    assert memo.get("r", raws[3 + evicted]) == body
    assert memo.get("s", b"%0100d" % -1) == big


def test_memo_under_never_seen_bodies__memory_steady() -> None:
    """Every body new (never-seen units): the memo stays at its bound, entry for entry."""
    memo = AnswerMemo()
    body = b"x" * 400
    fits = MEMO_BYTES // (400 + 100)
    _filled(memo, 0, fits, body)
    for start in range(fits, 5 * fits, fits):
        _filled(memo, start, fits, body)
        assert len(memo) == fits


def test_joined_answers__bounded_and_their_etags() -> None:
    table = JoinedAnswers()
    parts = (object(), object())
    key = ("key", *map(id, parts))
    body = b'{"flags":[1,2]}'
    assert table.get(key) is None
    assert table.put(key, parts, body) is body
    assert table.get(key) is body
    assert table.etag(body) == content_etag(body)
    assert table.etag(bytes(body)) == content_etag(body)  # another object: hashed, same tag
    big = b"x" * JOINED_BYTES  # past the bound: answered, not kept
    assert table.put(("key", 1), (), big) is big
    assert table.get(("key", 1)) is None
    assert len(table) == 1
