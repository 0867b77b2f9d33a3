"""``avsb events import``: a CSV or Parquet file streamed to the batch events route."""

from __future__ import annotations

import contextlib
import csv
import math
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from avsb.cli.client import USAGE_EXIT, Json, Output, OutputOpt, ProfileOpt, api, emit, fail

app = typer.Typer(help="Events: import files.", no_args_is_help=True)

MAX_BATCH = 10_000  # the route's limit (avsb.server.ingestion.parse.MAX_EVENTS)
NUMERIC = frozenset({"value"})
NESTED = ("attributes.", "properties.")


def _plain(raw: Any) -> Any:
    """A Parquet cell as a JSON value: times in ISO 8601, decimals as numbers."""
    if isinstance(raw, datetime | date):
        return raw.isoformat()
    if isinstance(raw, Decimal):
        return float(raw)
    if raw is None or isinstance(raw, str | int | float | bool | dict | list):
        return raw
    return str(raw)


def _event(row: dict[str, Any]) -> Json:
    """One event from a flat row: empty cells are left out, ``value`` is a number, and
    ``attributes.NAME`` / ``properties.NAME`` columns fill those objects."""
    event: Json = {}
    for column, raw in row.items():
        if column is None or raw is None or raw == "":
            continue
        value = _plain(raw)
        if column in NUMERIC and isinstance(value, str):
            with contextlib.suppress(ValueError):  # else sent as it is: the server says why
                value = float(value)
            if isinstance(value, float) and value.is_integer() and math.isfinite(value):
                value = int(value)
        for prefix in NESTED:
            if column.startswith(prefix):
                event.setdefault(prefix[:-1], {})[column[len(prefix) :]] = value
                break
        else:
            event[column] = value
    return event


class _Counted:
    """A binary file whose read position the progress bar follows."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.position = 0

    def lines(self) -> Iterator[str]:
        for line in self.handle:
            self.position += len(line)
            yield line.decode("utf-8-sig" if self.position == len(line) else "utf-8")


def _csv_rows(path: Path, counter: list[_Counted]) -> Iterator[dict[str, Any]]:
    with path.open("rb") as handle:
        counted = _Counted(handle)
        counter.append(counted)
        yield from csv.DictReader(counted.lines())


def _parquet_rows(path: Path, counter: list[int], batch: int) -> Iterator[dict[str, Any]]:
    import duckdb

    with duckdb.connect(":memory:") as con:
        cursor = con.execute("SELECT * FROM read_parquet(?)", [str(path)])
        names = [d[0] for d in cursor.description]
        while chunk := cursor.fetchmany(batch):
            for values in chunk:
                counter[0] += 1
                yield dict(zip(names, values, strict=True))


def _parquet_count(path: Path) -> int:
    import duckdb

    with duckdb.connect(":memory:") as con:
        row = con.execute("SELECT count(*) FROM read_parquet(?)", [str(path)]).fetchone()
    return int(row[0]) if row else 0


def _batches(rows: Iterator[dict[str, Any]], size: int) -> Iterator[list[Json]]:
    batch: list[Json] = []
    for row in rows:
        batch.append(_event(row))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="A .csv (header row) or .parquet file")],
    project: Annotated[str, typer.Option("--project", "-p", help="Project id or key")],
    batch_size: Annotated[
        int, typer.Option(min=1, max=MAX_BATCH, help="Events per request")
    ] = 1000,
    output: OutputOpt = Output.table,
    profile: ProfileOpt = None,
) -> None:
    """Send every event of the file to the project, in batches.

    Columns are the event fields (type, unit_id, timestamp, experiment, variant, event_name,
    value, event_id...); ``attributes.X`` and ``properties.X`` columns fill those objects.
    Exits 1 when the server rejected any event (the first rejections are printed)."""
    suffix = file.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        fail(f"{file}: give a .csv or .parquet file", USAGE_EXIT)
    if not file.is_file():
        fail(f"{file}: no such file", USAGE_EXIT)
    totals = {"sent": 0, "accepted": 0, "duplicates": 0, "rejected": 0}
    rejections: list[Json] = []
    with api(profile) as client:
        pid = client.resolve("projects", project)["id"]
        path = client.org(f"/projects/{pid}/events")
        files: list[_Counted] = []
        parquet_rows = [0]
        if suffix == ".csv":
            rows, total = _csv_rows(file, files), file.stat().st_size
        else:
            rows, total = _parquet_rows(file, parquet_rows, batch_size), _parquet_count(file)
        progress = Progress(
            TextColumn("importing {task.fields[name]}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[sent]} events"),
            TimeElapsedColumn(),
            disable=output is Output.json,
            transient=False,
        )
        with progress:
            task = progress.add_task("import", total=total, name=file.name, sent=0)
            for batch in _batches(rows, batch_size):
                done = client.post(path, {"events": batch})
                for rejection in done["rejected"]:
                    rejection["index"] += totals["sent"]
                    if len(rejections) < 20:
                        rejections.append(rejection)
                totals["sent"] += len(batch)
                totals["accepted"] += done["accepted"]
                totals["duplicates"] += done["duplicates"]
                totals["rejected"] += len(done["rejected"])
                where = files[0].position if files else parquet_rows[0]
                progress.update(task, completed=where, sent=totals["sent"])
            progress.update(task, completed=total)
    emit(output, {**totals, "first_rejections": rejections})
    if totals["rejected"]:
        raise typer.Exit(1)
