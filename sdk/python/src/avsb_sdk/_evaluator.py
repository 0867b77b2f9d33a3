"""The in-process evaluator: the project's compiled config, kept fresh from the server."""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Iterable, Mapping
from typing import Any

import httpx

from avsb_sdk._errors import ApiError, NotReadyError
from avsb_sdk._http import Closing, bearer_client
from avsb_sdk.evaluation import (
    CompiledConfig,
    ErrorCode,
    JsonValue,
    assign_experiments,
    compile_config,
    config_from_dict,
    evaluate,
    evaluate_flags,
)
from avsb_sdk.evaluation.answers import abc_experiments, abc_flags, sdk_evaluation

log = logging.getLogger("avsb_sdk")

Json = dict[str, Any]
Attributes = Mapping[str, object]


class Client(Closing):
    """Evaluates experiments and flags in-process, exactly as the AvsB server does.

    Fetches the project's compiled config from `GET /api/sdk/config` (with `If-None-Match`,
    so an unchanged config costs a 304) and, once started, refreshes it every
    `poll_interval` seconds in a background thread; a failed refresh keeps the last config.

        with Client("https://avsb.example.com", "avsb_sdk_...") as client:
            client.get_flag("checkout_button", "user_1", {"country": "US"}, default="red")
    """

    def __init__(
        self,
        base_url: str,
        sdk_key: str,
        *,
        poll_interval: float = 30.0,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = bearer_client(base_url, sdk_key, timeout, transport)
        self.poll_interval = poll_interval
        self._compiled: CompiledConfig | None = None
        self._etag: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._fetch_lock = threading.Lock()

    def refresh(self) -> bool:
        """Fetch the config; True when a new one was loaded, False when unchanged (304).

        Raises ApiError when the server refuses (bad key: 401/403) or fails.
        """
        with self._fetch_lock:
            headers = {"If-None-Match": self._etag} if self._etag else {}
            response = self._http.get("/api/sdk/config", headers=headers)
            if response.status_code == 304:
                return False
            if response.status_code != 200:
                raise ApiError.from_response(response)
            compiled = compile_config(config_from_dict(response.json()["data"]))
            self._compiled, self._etag = compiled, response.headers.get("etag")
            return True

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_interval):
            try:
                self.refresh()
            except (httpx.HTTPError, ApiError, ValueError):
                log.warning("config refresh failed; keeping revision %s", self.revision)

    def start(self) -> Client:
        """Load the config now (raising if that fails), then refresh it in the background."""
        self.refresh()
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._poll, name="avsb-sdk-poll", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop refreshing and close the HTTP connection."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self._http.close()

    def __enter__(self) -> Client:
        return self.start()

    @property
    def config(self) -> CompiledConfig:
        """The compiled config in use; raises NotReadyError before the first refresh."""
        compiled = self._compiled
        if compiled is None:
            raise NotReadyError("No config loaded yet: call refresh() or start() first.")
        return compiled

    @property
    def revision(self) -> int | None:
        """The server's revision of the config in use (None before the first refresh)."""
        return None if self._compiled is None else self._compiled.revision

    def get_experiments(
        self,
        unit_id: str,
        attributes: Attributes | None = None,
        *,
        layer_keys: Collection[str] | None = None,
        experiment_keys: Collection[str] | None = None,
    ) -> Json:
        """Return the unit's assignment per layer, as `exp_data` of `POST /abc/get_experiments`."""
        assignments = assign_experiments(
            self.config,
            unit_id,
            attributes,
            layer_keys=layer_keys,
            experiment_keys=experiment_keys,
        )
        return abc_experiments(assignments)

    def get_feature_flags(
        self, unit_id: str, feature_names: Iterable[str], attributes: Attributes | None = None
    ) -> Json:
        """Return named flags as `data` of `POST /abc/get_feature_flags` (values as strings)."""
        return abc_flags(evaluate_flags(self.config, unit_id, attributes, feature_names))

    def get_flag(
        self,
        key: str,
        unit_id: str,
        attributes: Attributes | None = None,
        default: JsonValue = None,
    ) -> JsonValue:
        """Return one flag's typed value for the unit; `default` when the flag does not exist."""
        flag = evaluate_flags(self.config, unit_id, attributes, (key,))[key]
        return default if flag.error_code == ErrorCode.FLAG_NOT_FOUND else flag.value

    def evaluate(self, unit_id: str, attributes: Attributes | None = None) -> Json:
        """Return every layer and flag for the unit, as `data` of `POST /api/sdk/evaluate`."""
        compiled = self.config
        return sdk_evaluation(evaluate(compiled, unit_id, attributes), compiled.revision)
