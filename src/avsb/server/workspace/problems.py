"""Problems found in a workspace document, each at a JSON path such as
``$.projects[0].experiments[2].variants``."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator, Sequence

from pydantic import ValidationError

from avsb.server.errors import ValidationFailed
from avsb.server.workspace.schemas import WorkspaceProblem

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def join(base: str, *parts: str | int) -> str:
    """``base`` with object fields (``.name`` or ``["odd name"]``) and list indexes appended."""
    out = base
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _NAME.fullmatch(part):
            out += f".{part}"
        else:
            out += f"[{json.dumps(part)}]"
    return out


def dotted(base: str, path: str) -> str:
    """``base`` with a service's 422 field path (``rules.0.value``) appended."""
    if path == "body":  # a 422 about the whole body
        return base
    return join(base, *(int(p) if p.isascii() and p.isdigit() else p for p in path.split(".") if p))


class Problems:
    """Collects problems in the order they are found."""

    def __init__(self) -> None:
        self.items: list[WorkspaceProblem] = []

    def __bool__(self) -> bool:
        return bool(self.items)

    def add(self, path: str, code: str, message: str) -> None:
        self.items.append(WorkspaceProblem(path=path, code=code, message=message))

    def schema(self, exc: ValidationError, base: str) -> None:
        """Every error of a failed pydantic validation of the object at ``base``."""
        for err in exc.errors(include_url=False):
            loc: Sequence[str | int] = err["loc"]
            self.add(join(base, *loc), "schema", err["msg"])

    @contextlib.contextmanager
    def at(self, base: str) -> Iterator[None]:
        """Record a service check's 422 or a body's schema errors (paths relative to ``base``)
        and go on."""
        try:
            yield
        except ValidationError as exc:
            self.schema(exc, base)
        except ValidationFailed as exc:
            for field in exc.details.get("fields", []):
                self.add(dotted(base, field["path"]), "invalid_value", field["message"])

    def failure(self, message: str) -> ValidationFailed:
        """The 422 an import answers with these problems (``details.problems`` and ``fields``)."""
        fields = [{"path": p.path, "message": p.message, "type": p.code} for p in self.items]
        exc = ValidationFailed(message, fields)
        exc.details["problems"] = [p.model_dump() for p in self.items]
        return exc
