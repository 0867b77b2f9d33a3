"""The other remote commands (flags, tokens, audit, workspace import), how they find their
server (env vars, profiles), their errors and exit statuses, and shell completion."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from tests.support.servers import ApiClient

from .conftest import Cli


def env_of(org: ApiClient) -> dict[str, str]:
    return {"AVSB_URL": org.server.url, "AVSB_TOKEN": org.token}


def test_flags__create_get_set_kill_list(cli: Cli, org: ApiClient, tmp_path: Path) -> None:
    env = env_of(org)
    cli.json("projects", "create", "--key", "app", **env)
    spec = tmp_path / "flag.json"
    spec.write_text(json.dumps({"project": "app", "key": "new_nav", "type": "boolean",
                                "default_value": False}))  # fmt: skip
    assert cli.json("flags", "create", "-f", str(spec), **env)["enabled"] is True

    changed = cli.json("flags", "set", "new_nav", "--default", "true", **env)
    assert changed["default_value"] is True
    killed = cli.json("flags", "kill", "new_nav", **env)
    assert killed["enabled"] is False
    got = cli.json("flags", "get", "new_nav", "--project", "app", **env)
    assert (got["enabled"], got["default_value"]) == (False, True)
    assert [f["key"] for f in cli.json("flags", "list", **env)] == ["new_nav"]
    assert "new_nav" in cli.ok("flags", "list", **env)
    # and the server agrees
    flag = org.get(org.org(f"/flags/{got['id']}")).json()["data"]
    assert (flag["enabled"], flag["default_value"]) == (False, True)


def test_tokens__create_list_rotate_revoke(cli: Cli, org: ApiClient) -> None:
    env = env_of(org)
    made = cli.json("tokens", "create", "--name", "ci", "--scope", "projects:read", **env)
    secret = made["token"]
    assert org.get("/api/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    assert "ci" in [t["name"] for t in cli.json("tokens", "list", **env)]

    rotated = cli.json("tokens", "rotate", made["id"], **env)
    assert rotated["token"] != secret
    auth = {"Authorization": f"Bearer {rotated['token']}"}
    assert org.get("/api/me", headers=auth).status_code == 200
    assert org.get("/api/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401

    assert cli.json("tokens", "revoke", made["id"], **env)["status"] == "revoked"
    assert org.get("/api/me", headers=auth).status_code == 401


def test_audit_tail__lists_and_follows(cli: Cli, org: ApiClient) -> None:
    env = env_of(org)
    cli.json("projects", "create", "--key", "audited", **env)
    listed = cli.json("audit", "tail", **env)
    assert "project.created" in [e["action"] for e in listed]

    # From five minutes back: the command prints "audited" too, however long it takes to
    # start on a loaded machine, then "later" when it appears.
    follow = subprocess.Popen(
        [sys.executable, "-m", "avsb", "audit", "tail", "--follow", "--interval", "0.2",
         "--since-minutes", "5", "--action", "project.created", "--output", "json"],
        env={**cli.env, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    assert follow.stdout is not None
    stdout = follow.stdout

    def read() -> None:
        for line in stdout:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    try:
        first = json.loads(lines.get(timeout=120))
        assert first["action"] == "project.created"
        r = org.post(org.org("/projects"), json={"key": "later", "name": "Later"})
        assert r.status_code == 201, r.text
        later = r.json()["data"]["id"]
        seen = [first]
        while seen[-1]["resource_id"] != later:
            seen.append(json.loads(lines.get(timeout=60)))
        assert [e["action"] for e in seen] == ["project.created"] * len(seen)
        assert len({e["id"] for e in seen}) == len(seen)  # each event printed once
    finally:
        follow.terminate()
        follow.communicate(timeout=15)


def test_workspace_import__rebuilds_in_another_org(
    cli: Cli, org: ApiClient, tmp_path: Path, cli_server: object
) -> None:
    from tests.support.servers import new_org_client

    env = env_of(org)
    cli.json("projects", "create", "--key", "moved", "--name", "Moved", **env)
    doc = tmp_path / "ws.json"
    cli.json("workspace", "export", "--file", str(doc), **env)
    with new_org_client(org.server) as other:
        other_env = env_of(other)
        checked = cli.json("workspace", "import", str(doc), "--validate-only", **other_env)
        assert checked["valid"] is True
        cli.json("workspace", "import", str(doc), **other_env)
        assert [p["key"] for p in cli.json("projects", "list", **other_env)] == ["moved"]


def test_profiles__named_profile_and_env_override(cli: Cli, org: ApiClient) -> None:
    cli.json("login", "--url", org.server.url, "--token", org.token, "--profile", "staging")
    assert cli.json("projects", "list", "--profile", "staging") == []
    missing = cli.run("projects", "list", "--profile", "prod")
    assert missing.returncode == 2
    assert "no profile 'prod'" in missing.stderr
    nothing = cli.run("projects", "list")  # no default profile, no env vars
    assert nothing.returncode == 2
    assert "avsb login" in nothing.stderr


def test_errors__api_error_exits_1_with_the_structured_message(cli: Cli, org: ApiClient) -> None:
    env = env_of(org)
    cli.json("projects", "create", "--key", "dup", **env)
    again = cli.run("projects", "create", "--key", "dup", **env)
    assert again.returncode == 1
    assert "HTTP 409" in again.stderr
    assert "conflict" in again.stderr.lower()
    assert "Traceback" not in again.stderr

    missing = cli.run("experiments", "show", "no_such_experiment", **env)
    assert missing.returncode == 1
    assert "no_such_experiment" in missing.stderr

    bad_token = cli.run("projects", "list", AVSB_URL=org.server.url, AVSB_TOKEN="avsb_svc_nope")
    assert bad_token.returncode == 1
    assert "HTTP 401" in bad_token.stderr

    refused = cli.run("login", "--url", org.server.url, "--token", "avsb_svc_nope")
    assert refused.returncode == 1
    assert "HTTP 401" in refused.stderr


def test_errors__usage_exits_2(cli: Cli, org: ApiClient, tmp_path: Path) -> None:
    env = env_of(org)
    assert cli.run("experiments", "create", **env).returncode == 2  # -f missing
    assert cli.run("projects", "list", "--output", "xml", **env).returncode == 2
    broken = tmp_path / "broken.yaml"
    broken.write_text("key: [unclosed\n")
    bad = cli.run("experiments", "create", "-f", str(broken), "--project", "x", **env)
    assert bad.returncode == 2
    assert "not valid YAML" in bad.stderr
    wrong = tmp_path / "events.txt"
    wrong.write_text("x")
    assert cli.run("events", "import", str(wrong), "--project", "x", **env).returncode == 2


def test_events_import__rejections_are_reported_and_exit_1(
    cli: Cli, org: ApiClient, tmp_path: Path
) -> None:
    env = env_of(org)
    cli.json("projects", "create", "--key", "rej", **env)
    data = tmp_path / "bad.csv"
    data.write_text("type,event_name,unit_id,timestamp\nmetric,view,u1,2026-01-01T00:00:00Z\n"
                    "metric,view,u2,not-a-time\n")  # fmt: skip
    done = cli.run("events", "import", str(data), "--project", "rej", "--output", "json", **env)
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert (report["accepted"], report["rejected"]) == (1, 1)
    assert report["first_rejections"][0]["index"] == 1


def test_events_import__parquet(cli: Cli, org: ApiClient, tmp_path: Path) -> None:
    import duckdb

    env = env_of(org)
    cli.json("projects", "create", "--key", "pq", **env)
    data = tmp_path / "events.parquet"
    with duckdb.connect(":memory:") as con:
        con.execute(
            "COPY (SELECT 'metric' AS type, 'view' AS event_name, 'u' || i AS unit_id, "
            "TIMESTAMPTZ '2026-01-01 00:00:00+00' + i * INTERVAL 1 MINUTE AS timestamp, "
            "i * 1.5 AS value FROM range(250) t(i)) TO ? (FORMAT parquet)",
            [str(data)],
        )
    report = cli.json("events", "import", str(data), "--project", "pq", "--batch-size", "100",
                      **env)  # fmt: skip
    assert (report["sent"], report["accepted"], report["rejected"]) == (250, 250, 0)


def test_completion__commands_and_subcommands_complete(cli: Cli) -> None:
    top = cli.ok(_AVSB_COMPLETE="complete_bash", COMP_WORDS="avsb exp", COMP_CWORD="1")
    assert top.split() == ["experiments"]
    sub = cli.ok(_AVSB_COMPLETE="complete_zsh", _TYPER_COMPLETE_ARGS="avsb experiments st")
    assert '"start"' in sub
    assert '"stop"' in sub


def test_every_command__takes_output_json() -> None:
    import typer

    from avsb.cli.main import app

    def leaves(command: Any, path: str) -> list[tuple[str, Any]]:
        if hasattr(command, "commands"):  # a group (typer's own click)
            return [
                x for name, sub in command.commands.items() for x in leaves(sub, f"{path} {name}")
            ]
        return [(path, command)]

    commands = leaves(typer.main.get_command(app), "avsb")
    assert len(commands) > 25
    for path, command in commands:
        if path in ("avsb serve", "avsb relay"):
            continue  # run a server; print nothing to parse
        options = {o for p in command.params for o in getattr(p, "opts", [])}
        assert "--output" in options, path
