"""What every remote command shares: the profile (URL, token, organisation), an HTTP client
that turns API errors into a message and exit status 1, and output as a table or JSON."""

from __future__ import annotations

import json
import os
import sys
import time
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import httpx
import typer
from rich.console import Console
from rich.table import Table

Json = dict[str, Any]

console = Console()
err_console = Console(stderr=True)

API_ERROR_EXIT = 1
USAGE_EXIT = 2
RETRIES = 4  # on 429 / 503, which the server answers before doing anything


def _retry_after(response: httpx.Response, attempt: int) -> float:
    try:
        seconds = float(response.headers.get("Retry-After", ""))
    except ValueError:
        seconds = 0.5 * 2**attempt
    return min(seconds, 30.0)


class Output(StrEnum):
    table = "table"
    json = "json"


OutputOpt = Annotated[
    Output,
    typer.Option("--output", "-o", envvar="AVSB_OUTPUT", help="table (for people) or json"),
]
ProfileOpt = Annotated[
    str | None,
    typer.Option("--profile", envvar="AVSB_PROFILE", help="Profile name in the profiles file"),
]


def config_path() -> Path:
    """The profiles file: ``AVSB_CONFIG`` or ``~/.config/avsb/profiles.toml``."""
    explicit = os.environ.get("AVSB_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "avsb" / "profiles.toml"


def read_profiles(path: Path | None = None) -> dict[str, dict[str, str]]:
    path = path or config_path()
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        fail(f"{path} is not valid TOML: {exc}", USAGE_EXIT)
    profiles = data.get("profiles", {})
    return {
        str(name): {str(k): str(v) for k, v in values.items()}
        for name, values in profiles.items()
        if isinstance(values, dict)
    }


def _toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def write_profile(name: str, values: Mapping[str, str], path: Path | None = None) -> Path:
    """Save (or replace) one profile; the file is created readable by its owner only."""
    path = path or config_path()
    profiles = read_profiles(path)
    profiles[name] = dict(values)
    lines: list[str] = []
    for profile, fields in sorted(profiles.items()):
        lines.append(f"[profiles.{_toml_string(profile)}]")
        lines.extend(f"{key} = {_toml_string(val)}" for key, val in sorted(fields.items()))
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(lines))
    os.chmod(path.with_suffix(".tmp"), 0o600)
    os.replace(path.with_suffix(".tmp"), path)
    return path


def fail(message: str, code: int = API_ERROR_EXIT) -> NoReturn:
    err_console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@dataclass(frozen=True)
class Profile:
    url: str
    token: str
    org_id: str | None


def resolve_profile(name: str | None) -> Profile:
    """``AVSB_URL``/``AVSB_TOKEN`` (and ``AVSB_ORG``) win over the profile file; a named
    profile must exist; without a name the ``default`` profile is used when present."""
    profiles = read_profiles()
    chosen: dict[str, str] = {}
    if name is not None:
        if name not in profiles:
            fail(f"no profile {name!r} in {config_path()} (run `avsb login`)", USAGE_EXIT)
        chosen = profiles[name]
    elif "default" in profiles:
        chosen = profiles["default"]
    url = os.environ.get("AVSB_URL") or chosen.get("url")
    token = os.environ.get("AVSB_TOKEN") or chosen.get("token")
    org = os.environ.get("AVSB_ORG") or chosen.get("org_id")
    if not url or not token:
        fail(
            "no server to talk to: run `avsb login`, or set AVSB_URL and AVSB_TOKEN",
            USAGE_EXIT,
        )
    return Profile(url.rstrip("/"), token, org or None)


def error_message(response: httpx.Response) -> str:
    """The structured error of an API answer, as one line (with its details)."""
    try:
        error = response.json()["error"]
        text = f"{error['code']}: {error['message']}"
        details = error.get("details")
        if details:
            text += " " + json.dumps(details, sort_keys=True)
        if error.get("request_id"):
            text += f" (request {error['request_id']})"
        return f"HTTP {response.status_code} {text}"
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}: {response.text[:500]}"


class Api:
    """An HTTP client of one server and token; each call returns the decoded answer or exits
    with the API's error message and status 1."""

    def __init__(self, profile: Profile, timeout: float = 60.0) -> None:
        self.profile = profile
        self.http = httpx.Client(
            base_url=profile.url,
            headers={"Authorization": f"Bearer {profile.token}", "User-Agent": "avsb-cli"},
            timeout=timeout,
        )
        self._org_id = profile.org_id

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        for attempt in range(RETRIES + 1):
            try:
                response = self.http.request(method, path, **kwargs)
            except httpx.HTTPError as exc:
                fail(f"cannot reach {self.profile.url}: {exc}")
            if response.status_code not in (429, 503) or attempt == RETRIES:
                break
            time.sleep(_retry_after(response, attempt))
        if response.status_code >= 400:
            fail(error_message(response))
        return response

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        if not response.content:
            return None
        body = response.json()
        return body.get("data", body) if isinstance(body, dict) and "data" in body else body

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        return self.call("POST", path, json=body, **kwargs)

    def patch(self, path: str, body: Any, **kwargs: Any) -> Any:
        return self.call("PATCH", path, json=body, **kwargs)

    @property
    def org_id(self) -> str:
        if self._org_id is None:
            self._org_id = str(self.get("/api/me")["org_id"])
        return self._org_id

    def org(self, suffix: str = "") -> str:
        return f"/api/orgs/{self.org_id}{suffix}"

    def pages(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[Json]:
        """Every item of a list, following ``next_cursor``."""
        query = {k: v for k, v in (params or {}).items() if v is not None}
        while True:
            body = self.request("GET", path, params=query).json()
            yield from body["data"]
            if not body.get("has_more") or not body.get("next_cursor"):
                return
            query["cursor"] = body["next_cursor"]

    def project_id(self, project: str | None) -> str | None:
        """The id of the project named by id or key, or None when no project is named."""
        return self.resolve("projects", project)["id"] if project else None

    def resolve(self, collection: str, ref: str, project_id: str | None = None) -> Json:
        """A resource of ``collection`` (``projects``, ``experiments``...) by id or key."""
        path = self.org(f"/{collection}")
        response = self.http.get(f"{path}/{ref}")
        if response.status_code == 200:
            found: Json = response.json()["data"]
            return found
        if response.status_code not in (404, 422):
            fail(error_message(response))
        params: dict[str, Any] = {"key_prefix": ref, "project_id": project_id}
        if collection == "projects":
            params.pop("project_id")
        matches = [item for item in self.pages(path, params) if item.get("key") == ref]
        if not matches:
            fail(f"no {collection[:-1].replace('-', ' ')} with id or key {ref!r}")
        if len(matches) > 1:
            fail(f"key {ref!r} names several {collection}; give the id or --project", USAGE_EXIT)
        return matches[0]


def api(profile: str | None) -> Api:
    return Api(resolve_profile(profile))


def emit(
    output: Output,
    data: Any,
    columns: Sequence[str] = (),
    title: str | None = None,
) -> None:
    """Print ``data``: as JSON for ``--output json``; else a table of ``columns`` for a list,
    or field/value rows for one object."""
    if output is Output.json:
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
        return
    if isinstance(data, list):
        table = Table(*columns, title=title)
        for item in data:
            table.add_row(*(_cell(item.get(c)) for c in columns))
        console.print(table)
        if not data:
            console.print("(none)")
        return
    if isinstance(data, dict):
        table = Table("field", "value", title=title, show_header=False)
        for key in columns or list(data):
            table.add_row(key, _cell(data.get(key)))
        console.print(table)
        return
    console.print(data)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)


def load_spec(path: Path) -> Json:
    """A request body from a YAML or JSON file (JSON is YAML too; the suffix only decides
    which parser reports the syntax error)."""
    import yaml

    try:
        text = path.read_text()
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}", USAGE_EXIT)
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        fail(f"{path} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}", 2)
    if not isinstance(data, dict):
        fail(f"{path} must hold one object (a mapping)", USAGE_EXIT)
    return data
