"""A multipart upload streamed into a temporary file: one file part (``file``) written to
disk as it arrives, a few small text fields kept in memory, a byte limit on the whole body
(413 beyond it). Parsed with python-multipart's streaming parser."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import IO

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from avsb.server.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

MAX_FIELD_BYTES = 64 * 1024
MAX_FIELDS = 32


@dataclass
class Upload:
    """The file part on disk (``path``; None when the body had none) and the text fields."""

    path: str | None = None
    filename: str | None = None
    size: int = 0
    fields: dict[str, str] = field(default_factory=dict)


class _Parts:
    """python-multipart callbacks: route each part's bytes to the file or to a field."""

    def __init__(self, upload: Upload, file_field: str, directory: str) -> None:
        self.upload = upload
        self.file_field = file_field
        self.directory = directory
        self._header_field = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._name: str | None = None
        self._file: IO[bytes] | None = None
        self._value = bytearray()

    def on_part_begin(self) -> None:
        self._headers, self._name, self._value = {}, None, bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._header_field.lower()] = self._header_value
        self._header_field, self._header_value = b"", b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition"))
        name = options.get(b"name")
        if name is None:
            raise BadRequest("A multipart part has no name.", code="invalid_multipart")
        self._name = name.decode("utf-8", "replace")
        if self._name == self.file_field:
            if self.upload.path is not None:
                raise BadRequest(
                    f"Send one {self.file_field!r} part only.", code="invalid_multipart"
                )
            filename = options.get(b"filename")
            self.upload.filename = None if filename is None else filename.decode("utf-8", "replace")
            handle, path = tempfile.mkstemp(prefix="avsb-upload-", dir=self.directory)
            self._file = os.fdopen(handle, "wb")
            self.upload.path = path
        elif len(self.upload.fields) >= MAX_FIELDS:
            raise BadRequest(f"At most {MAX_FIELDS} form fields.", code="invalid_multipart")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._file is not None:
            self._file.write(data[start:end])
            self.upload.size += end - start
            return
        self._value += data[start:end]
        if len(self._value) > MAX_FIELD_BYTES:
            raise PayloadTooLarge(f"Form field {self._name!r} exceeds {MAX_FIELD_BYTES} bytes.")

    def on_part_end(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        elif self._name is not None:
            self.upload.fields[self._name] = self._value.decode("utf-8", "replace")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def _write(parser: MultipartParser, chunk: bytes | None) -> None:
    """Feed the parser (``None``: the end); a malformed body is a 400."""
    try:
        if chunk is None:
            parser.finalize()
        else:
            parser.write(chunk)
    except FormParserError as exc:
        raise BadRequest(f"Malformed multipart body: {exc}", code="invalid_multipart") from exc


@contextlib.asynccontextmanager
async def receive_upload(
    request: Request, max_bytes: int, file_field: str = "file"
) -> AsyncIterator[Upload]:
    """Stream the request's multipart body; the temporary file is removed on exit."""
    kind, options = parse_options_header(request.headers.get("content-type"))
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise UnsupportedMediaType("Send multipart/form-data with a boundary.")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(
            f"The upload exceeds {max_bytes} bytes.", details={"max_bytes": max_bytes}
        )
    upload = Upload()
    directory = tempfile.gettempdir()
    parts = _Parts(upload, file_field, directory)
    callbacks = {
        "on_part_begin": parts.on_part_begin,
        "on_part_data": parts.on_part_data,
        "on_part_end": parts.on_part_end,
        "on_header_field": parts.on_header_field,
        "on_header_value": parts.on_header_value,
        "on_header_end": parts.on_header_end,
        "on_headers_finished": parts.on_headers_finished,
    }
    parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_bytes:
                raise PayloadTooLarge(
                    f"The upload exceeds {max_bytes} bytes.", details={"max_bytes": max_bytes}
                )
            _write(parser, chunk)
        _write(parser, None)
        yield upload
    finally:
        parts.close()
        if upload.path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(upload.path)
