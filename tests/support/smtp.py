"""A tiny local SMTP server for tests of the invitation email (``AVSB_SMTP_*``): stdlib
asyncio in a thread, keeping (sender, recipients, message) of every message it receives."""

from __future__ import annotations

import asyncio
import threading

from tests.support.servers import free_port


class SmtpReceiver:
    """A tiny SMTP server (stdlib asyncio) keeping the messages it receives."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[tuple[str, list[str], str]] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sender, rcpts = "", []
        writer.write(b"220 test ESMTP\r\n")
        while line := (await reader.readline()).decode().rstrip("\r\n"):
            verb = line.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                writer.write(b"250 test\r\n")
            elif verb == "MAIL":
                sender = line.split(":", 1)[1].strip()
                writer.write(b"250 OK\r\n")
            elif verb == "RCPT":
                rcpts.append(line.split(":", 1)[1].strip())
                writer.write(b"250 OK\r\n")
            elif verb == "DATA":
                writer.write(b"354 go\r\n")
                await writer.drain()
                lines = []
                while (data := (await reader.readline()).decode()) != ".\r\n":
                    lines.append(data)
                self.messages.append((sender, rcpts, "".join(lines)))
                writer.write(b"250 OK\r\n")
            elif verb == "QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                break
            else:
                writer.write(b"250 OK\r\n")
            await writer.drain()
        writer.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._session, "127.0.0.1", self.port)
        )
        self._ready.set()
        self._loop.run_forever()
        server.close()
        self._loop.run_until_complete(server.wait_closed())
        self._loop.close()

    def __enter__(self) -> SmtpReceiver:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *_exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
