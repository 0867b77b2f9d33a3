"""The CLI journey through a live server: login, a project and an experiment from a YAML
spec, start, 10,000 events from a CSV, results, stop, workspace export; each step also with
``--output json``, which must parse."""

from __future__ import annotations

import csv
import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support.servers import ApiClient

from .conftest import Cli

SPEC = """\
project: shop
key: checkout_button
name: Checkout button colour
hypothesis: A green button sells more
variants:
  - {key: control, weight: 50, params: {color: grey}}
  - {key: treatment, weight: 50, params: {color: green}}
metrics:
  primary:
    - {key: purchase, name: Purchase, type: binary, event_name: purchase}
analysis:
  method: frequentist
  alpha: 0.05
"""

PER_ARM = 2500
EVENTS = 10_000


def write_events(path: Path) -> None:
    """10,000 events: 5,000 exposures, purchases by every 5th control and every 4th
    treatment unit, and page views to make up the rest."""
    start = datetime.now(UTC) - timedelta(hours=3)
    rows: list[dict[str, str]] = []
    for arm, (variant, every) in enumerate((("control", 5), ("treatment", 4))):
        for i in range(PER_ARM):
            unit, at = f"{variant[0]}{i}", start + timedelta(seconds=i, milliseconds=arm)
            rows.append({"type": "exposure", "experiment": "checkout_button", "variant": variant,
                         "unit_id": unit, "timestamp": at.isoformat(),
                         "attributes.platform": "ios" if i % 2 else "web"})  # fmt: skip
            if i % every == 0:
                rows.append({"type": "metric", "event_name": "purchase", "unit_id": unit,
                             "timestamp": (at + timedelta(minutes=5)).isoformat(),
                             "value": "1"})  # fmt: skip
    i = 0
    while len(rows) < EVENTS:
        rows.append({"type": "metric", "event_name": "page_view", "unit_id": f"c{i % PER_ARM}",
                     "timestamp": (start + timedelta(seconds=i)).isoformat()})  # fmt: skip
        i += 1
    columns = ["event_id", "type", "experiment", "variant", "event_name", "unit_id",
               "timestamp", "value", "attributes.platform"]  # fmt: skip
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        for n, row in enumerate(rows):
            writer.writerow({"event_id": f"e{n}", **row})


def test_journey__login_to_export(cli: Cli, org: ApiClient, tmp_path: Path) -> None:
    url = org.server.url

    me = cli.json("login", "--url", url, "--token", org.token)
    assert me["org_id"] == org.org_id
    profiles = tmp_path / "profiles.toml"
    assert stat.S_IMODE(profiles.stat().st_mode) == 0o600
    assert org.token in profiles.read_text()

    project = cli.json("projects", "create", "--key", "shop", "--name", "Shop")
    assert project["key"] == "shop"
    assert "shop" in cli.ok("projects", "list")
    assert [p["key"] for p in cli.json("projects", "list")] == ["shop"]

    spec = tmp_path / "checkout.yaml"
    spec.write_text(SPEC)
    created = cli.json("experiments", "create", "-f", str(spec))
    assert (created["status"], created["project_id"]) == ("draft", project["id"])
    assert len(created["metrics"]["primary"]) == 1
    shown = cli.json("experiments", "show", "checkout_button")
    assert shown["id"] == created["id"]

    assert cli.json("experiments", "start", "checkout_button")["status"] == "running"

    events = tmp_path / "events.csv"
    write_events(events)
    table_run = cli.ok("events", "import", str(events), "--project", "shop")
    assert "10000" in table_run
    assert "accepted" in table_run
    again = cli.json("events", "import", str(events), "--project", "shop", "--batch-size", "3000")
    assert again == {"sent": EVENTS, "accepted": 0, "duplicates": EVENTS, "rejected": 0,
                     "first_rejections": []}  # fmt: skip

    results = cli.json("experiments", "results", "checkout_button")
    purchase = next(m for m in results["metrics"] if m["key"] == "purchase")
    counts = {v["key"]: (v["n"], v["sum"]) for v in purchase["variants"]}
    assert counts == {"control": (PER_ARM, PER_ARM / 5), "treatment": (PER_ARM, PER_ARM / 4)}
    printed = cli.ok("experiments", "results", "checkout_button")
    assert "purchase" in printed
    assert "treatment" in printed
    assert str(PER_ARM) in printed

    decision = cli.json("experiments", "decision", "checkout_button")
    assert decision["decision"] in ("ship", "no_ship", "keep_running")
    assert decision["reasons"]

    stopped = cli.json("experiments", "stop", "checkout_button", "--winner", "treatment",
                       "--reason", "green wins")  # fmt: skip
    assert stopped["status"] == "stopped"
    assert stopped["decision"]["winner"] == "treatment"

    out = tmp_path / "workspace.json"
    summary = cli.json("workspace", "export", "--file", str(out))
    assert summary["projects"] == 1
    document = json.loads(out.read_text())
    assert document["format"] == "avsb.workspace"
    exported = document["projects"][0]
    assert exported["key"] == "shop"
    assert "checkout_button" in json.dumps(exported)
    assert cli.json("workspace", "export")["format"] == "avsb.workspace"
