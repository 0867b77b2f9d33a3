"""A second reference of the evaluation benchmark: the least any app can do for an ABC request
under the same server software. A plain ASGI app that reads the whole request body and answers
a fixed JSON body of the size of a `get_experiments` answer (409 bytes) with the same response
headers AvsB sends (content type and length, three rate-limit headers, request id, timing, API
version, five security headers, cache-control). No authentication, no parsing, no evaluation:
what is left of AvsB's cost above this floor is AvsB's own work."""

from typing import Any

BODY = b'{"ret_code":100,"msg":"","exp_data":{' + b'"x":"' + b"y" * 364 + b'"}}'
HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", b"%d" % len(BODY)),
    (b"x-ratelimit-limit", b"600000"),
    (b"x-ratelimit-remaining", b"599999"),
    (b"x-ratelimit-reset", b"1796240365"),
    (b"x-request-id", b"req_049bc0b1a2bd9ea5bbe408cb"),
    (b"x-process-time-ms", b"0.05"),
    (b"avsb-api-version", b"2026-11-22"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"content-security-policy", b"default-src 'self'; frame-ancestors 'none'"),
    (b"cache-control", b"no-store"),
]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:  # the whole body, as a real handler must read it
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
