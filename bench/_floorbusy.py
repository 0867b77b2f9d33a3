import os, time
from _floor_app import BODY, HEADERS
BUSY_NS = int(os.environ.get("BUSY_US", "0")) * 1000
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    end = time.thread_time_ns() + BUSY_NS
    while time.thread_time_ns() < end:
        pass
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
