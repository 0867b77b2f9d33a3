"""Run inside a venv holding only `avsb-sdk` (see test_sdk_distribution.py): each command
drives the SDK against a live server and writes what it saw as JSON lines on stdout.

    python sdk_journey.py parity URL SDK_KEY UNITS_IN ANSWERS_OUT
    python sdk_journey.py exposures URL SDK_KEY EVENTS_TOKEN EXPERIMENT_KEY UNITS
    python sdk_journey.py down_then_up URL SDK_KEY FLAG_KEY
    python sdk_journey.py follow URL SDK_KEY FLAG_KEY POLL_INTERVAL STREAM(0|1)

Imports the standard library and `avsb_sdk` only: nothing of the server or the tests.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from avsb_sdk import Client, ExposureOptions


def emit(**fields: Any) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def parity(url: str, key: str, units_in: str, answers_out: str) -> None:
    with open(units_in, encoding="utf-8") as fh:
        work = json.load(fh)
    names: list[str] = work["flags"]
    answers = []
    with Client(url, key, stream=False) as client:
        assert client.wait_until_ready(30), "no config"
        started = time.perf_counter()
        for unit_id, attributes, as_lists in work["units"]:
            details = {
                name: [d.value, d.reason, d.variant]
                for name in names
                for d in [client.details(name, unit_id, attributes)]
            }
            answers.append([
                client.evaluate(unit_id, attributes),
                client.get_experiments(unit_id, as_lists),
                client.get_feature_flags(unit_id, names, as_lists),
                details,
            ])  # fmt: skip
        seconds = time.perf_counter() - started
    with open(answers_out, "w", encoding="utf-8") as fh:
        json.dump(answers, fh)
    emit(units=len(answers), seconds=seconds)


def exposures(url: str, key: str, experiment: str, units: str) -> None:
    """Sent with the SDK key alone (`POST /api/sdk/exposures`)."""
    seen: list[str] = []
    options = ExposureOptions(
        batch_size=64,
        flush_interval=0.5,
        on_exposure=lambda e: seen.append(e.unit_id),
    )
    variants: Counter[str] = Counter()
    with Client(url, key, stream=False, exposures=options) as client:
        assert client.wait_until_ready(30), "no config"
        for _ in range(3):  # every unit three times: one exposure each
            for i in range(int(units)):
                assignment = client.assign(experiment, f"unit_{i}")
                assert assignment.assigned, assignment
        for i in range(int(units)):
            variants[client.assign(experiment, f"unit_{i}").variant or ""] += 1
    emit(variants=dict(variants), callbacks=len(seen), sent=client.exposures.sent,
         dropped=client.exposures.dropped)  # fmt: skip


def down_then_up(url: str, key: str, flag: str) -> None:
    with Client(url, key, poll_interval=30, stream=False) as client:
        emit(
            stage="down",
            ready=client.wait_until_ready(0.5),
            is_on=client.is_on(flag, "u1"),
            value=client.get_string(flag, "u1", default="fallback"),
            reason=client.details(flag, "u1", default="fallback").error_code,
            assigned=client.assign("anything", "u1").reason,
        )
        up = client.wait_until_ready(90)
        emit(stage="up", ready=up, value=client.get_string(flag, "u1", default="fallback"))


def follow(url: str, key: str, flag: str, poll_interval: str, stream: str) -> None:
    with Client(url, key, poll_interval=float(poll_interval), stream=stream == "1") as client:
        assert client.wait_until_ready(30), "no config"
        deadline = time.monotonic() + 10
        while stream == "1" and not client.streaming and time.monotonic() < deadline:
            time.sleep(0.01)
        emit(stage="ready", streaming=client.streaming, revision=client.revision)
        deadline = time.monotonic() + 60
        while client.get_string(flag, "u1", default="absent") != "present":
            if time.monotonic() > deadline:
                emit(stage="timeout")
                return
            time.sleep(0.005)
        emit(stage="seen", at=time.time(), revision=client.revision)


COMMANDS: dict[str, Callable[..., None]] = {
    "parity": parity,
    "exposures": exposures,
    "down_then_up": down_then_up,
    "follow": follow,
}

if __name__ == "__main__":
    COMMANDS[sys.argv[1]](*sys.argv[2:])
