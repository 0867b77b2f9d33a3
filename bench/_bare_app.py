"""The baseline of the HTTP benchmarks: a bare Starlette hello app, served by the same server
software as ``avsb serve`` (uvicorn, its default loop and HTTP parser)."""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route


async def hello(_request: Request) -> PlainTextResponse:
    return PlainTextResponse("Hello, world!")


app = Starlette(routes=[Route("/", hello)])
