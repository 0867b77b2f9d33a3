"""POST /api/tools/analyze-file: a 10,000-row file gives the estimates of the same data
ingested as events into an experiment; bad files are 4xx naming the column at fault."""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.integration.design.factories import act, create_metric, create_project, post
from tests.integration.results.conftest import default_backend, server_on
from tests.integration.results.simulation import day_start, iso
from tests.support.servers import ApiClient, ServerFactory, new_org_client

from .conftest import Json, send

ROWS = 10_000
FIELDS = {
    "unit_column": "user",
    "variant_column": "arm",
    "metric_columns": "revenue,clicks",
    "control": "control",
    "covariate_column": "pre_revenue",
    "stratum_column": "device",
}


def dataset(rows: int = ROWS, seed: int = 11) -> list[Json]:
    rng = random.Random(seed)
    out = []
    for i in range(rows):
        arm = "treatment" if i % 2 else "control"
        device = rng.choice(("ios", "android", "web"))
        pre = round(rng.expovariate(1 / 20), 2)
        bought = rng.random() < (0.3 if arm == "control" else 0.34)
        revenue = round(0.5 * pre + rng.expovariate(1 / 15), 2) if bought else 0.0
        clicks = rng.randrange(0, 6 if device == "web" else 4)
        out.append({"user": f"u{i}", "arm": arm, "revenue": revenue, "clicks": clicks,
                    "pre_revenue": pre, "device": device})  # fmt: skip
    return out


def csv_bytes(rows: list[Json]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()


def analyze(api: ApiClient, content: bytes, name: str = "data.csv", **fields: str) -> Any:
    data = {**FIELDS, **fields}
    return api.post("/api/tools/analyze-file", data={k: v for k, v in data.items() if v},
                    files={"file": (name, content)})  # fmt: skip


def ingest_as_experiment(api: ApiClient, rows: list[Json]) -> Json:
    """The same units as an experiment: exposures, metric events, covariates and strata."""
    pid = create_project(api)["id"]
    revenue = create_metric(api, pid, key="revenue", type="sum", event_name="revenue")
    clicks = create_metric(api, pid, key="clicks", type="sum", event_name="clicks")
    body = {"project_id": pid, "key": "filetwin", "name": "File twin",
            "variants": [{"key": "control", "weight": 50}, {"key": "treatment", "weight": 50}],
            "metrics": {"primary": [revenue["id"], clicks["id"]]},
            "analysis": {"method": "frequentist", "cuped": True, "correction": "holm"}}  # fmt: skip
    experiment = act(api, post(api, "/experiments", body)["id"], "start")
    at = day_start(2)
    events: list[Json] = []
    for row in rows:
        unit = row["user"]
        events.append({"type": "exposure", "experiment": "filetwin", "variant": row["arm"],
                       "unit_id": unit, "timestamp": iso(at)})  # fmt: skip
        events.append({"type": "covariate", "experiment": "filetwin", "unit_id": unit,
                       "value": row["pre_revenue"]})  # fmt: skip
        events.append({"type": "stratum", "experiment": "filetwin", "unit_id": unit,
                       "stratum": row["device"]})  # fmt: skip
        for name in ("revenue", "clicks"):
            if row[name]:
                events.append({"type": "metric", "event_name": name, "unit_id": unit,
                               "value": row[name],
                               "timestamp": iso(at + timedelta(minutes=5))})  # fmt: skip
    send(api, pid, events)
    r = api.get(api.org(f"/experiments/{experiment['id']}/results"))
    assert r.status_code == 200, r.text
    data: Json = r.json()["data"]
    return data


def assert_same_metric(file_metric: Json, experiment_metric: Json) -> None:
    assert file_metric["adjustment"] == experiment_metric["adjustment"]
    for got, want in zip(file_metric["variants"], experiment_metric["variants"], strict=True):
        assert (got["key"], got["n"]) == (want["key"], want["n"])
        for name in ("sum", "mean", "adjusted_mean", "standard_error"):
            assert got[name] == pytest.approx(want[name], rel=1e-9), name
    for got, want in zip(file_metric["comparisons"], experiment_metric["comparisons"], strict=True):
        for name in ("estimate", "standard_error", "p_value", "adjusted_p_value"):
            assert got[name] == pytest.approx(want[name], rel=1e-9), name
        assert got["ci"] == pytest.approx(want["ci"], rel=1e-9)
        assert got["significant"] == want["significant"]


def test_file__same_estimates_as_the_experiment(api: ApiClient) -> None:
    rows = dataset()
    experiment = ingest_as_experiment(api, rows)

    r = analyze(api, csv_bytes(rows))

    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["file"] == {"format": "csv", "rows": ROWS, "units": ROWS, "skipped_rows": 0,
                            "multiple_variant_units": 0}  # fmt: skip
    assert data["variants"] == ["control", "treatment"]
    assert data["srm"]["p_value"] == pytest.approx(experiment["srm"]["p_value"], rel=1e-12)
    assert [m["key"] for m in data["metrics"]] == ["revenue", "clicks"]
    for file_metric, experiment_metric in zip(data["metrics"], experiment["metrics"], strict=True):
        assert file_metric["cuped"]["applied"] is True
        assert file_metric["stratification"]["applied"] is True
        assert_same_metric(file_metric, experiment_metric)


def test_parquet__same_answer_as_csv(api: ApiClient, tmp_path: Path) -> None:
    rows = dataset(2000, seed=5)
    source = tmp_path / "data.csv"
    source.write_bytes(csv_bytes(rows))
    target = tmp_path / "data.parquet"
    duckdb.execute(f"COPY (SELECT * FROM read_csv('{source}')) TO '{target}' (FORMAT parquet)")

    from_csv = analyze(api, source.read_bytes())
    from_parquet = analyze(api, target.read_bytes(), "data.parquet")

    assert from_parquet.status_code == 200, from_parquet.text
    assert from_parquet.json()["data"]["file"]["format"] == "parquet"
    pairs = zip(from_parquet.json()["data"]["metrics"], from_csv.json()["data"]["metrics"],
                strict=True)  # fmt: skip
    for parquet_metric, csv_metric in pairs:
        assert_same_metric(parquet_metric, csv_metric)


def test_units_in_two_variants_left_out_and_rows_summed(api: ApiClient) -> None:
    rows = [{"user": "a", "arm": "control", "revenue": 1.0, "clicks": 0, "pre_revenue": 1.0,
             "device": "web"}]  # fmt: skip
    rows += [dict(rows[0], user="a", arm="treatment")]
    rows += [{"user": f"u{i}", "arm": ("control", "treatment")[i % 2], "revenue": float(i % 7),
              "clicks": 1, "pre_revenue": 1.0, "device": "web"} for i in range(40)]  # fmt: skip
    rows += [dict(rows[-1], revenue=100.0)]  # a second row of the last unit: summed
    rows += [dict(rows[-1], user="", revenue=7.0), dict(rows[-1], user="x", arm="")]  # skipped

    r = analyze(api, csv_bytes(rows), covariate_column="", stratum_column="")

    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["file"]["multiple_variant_units"] == 1
    assert data["file"]["skipped_rows"] == 2
    assert data["file"]["rows"] == len(rows)
    assert data["file"]["units"] == 40
    treatment = data["metrics"][0]["variants"][1]
    assert treatment["sum"] == sum(float(i % 7) for i in range(1, 40, 2)) + 100.0


BAD = [
    ({"metric_columns": "revenue,nope"}, None, "column_missing", "nope"),
    ({"unit_column": "who"}, None, "column_missing", "who"),
    ({"metric_columns": "device"}, None, "column_not_numeric", "device"),
    ({"covariate_column": "arm"}, None, "column_not_numeric", "arm"),
    ({"control": "baseline"}, None, "control_missing", "arm"),
    ({}, "one_variant", "one_variant", "arm"),
]


@pytest.mark.parametrize(("fields", "variant", "code", "column"), BAD)
def test_bad_file__400_naming_the_column(
    api: ApiClient, fields: dict[str, str], variant: str | None, code: str, column: str
) -> None:
    rows = dataset(50)
    if variant is not None:
        rows = [dict(row, arm="control") for row in rows]

    r = analyze(api, csv_bytes(rows), **fields)

    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == code
    assert error["details"]["column"] == column
    assert repr(column) in error["message"]


@pytest.mark.parametrize("missing", ["unit_column", "metric_columns", "control"])
def test_missing_form_field__422_naming_it(api: ApiClient, missing: str) -> None:
    r = analyze(api, csv_bytes(dataset(20)), **{missing: ""})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["details"]["fields"][0]["path"] == f"form.{missing}"


def test_no_file_part_and_garbage_file__400(api: ApiClient) -> None:
    no_file = api.post("/api/tools/analyze-file", data=FIELDS, files={"other": ("x", b"1")})
    garbage = analyze(api, bytes(range(256)) * 8, "data.bin")
    not_multipart = api.post("/api/tools/analyze-file", json=FIELDS)

    assert no_file.status_code == 400, no_file.text
    assert no_file.json()["error"]["code"] == "file_missing"
    assert garbage.status_code == 400, garbage.text
    assert not_multipart.status_code == 415, not_multipart.text


@pytest.fixture
def small_limit_api(servers: ServerFactory, tmp_path: Path) -> Iterator[ApiClient]:
    with (
        server_on(servers, default_backend(), tmp_path, analyze_file_max_bytes=4096) as live,
        new_org_client(live) as client,
    ):
        yield client


def test_upload_over_the_limit__413(small_limit_api: ApiClient) -> None:
    r = analyze(small_limit_api, csv_bytes(dataset(500)))

    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "payload_too_large"
    small = analyze(small_limit_api, csv_bytes(dataset(20)))
    assert small.status_code == 200, small.text
