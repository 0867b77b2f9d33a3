"""The client address behind trusted reverse proxies (``AVSB_TRUSTED_PROXIES``).

``X-Forwarded-For`` is honoured only from a peer inside one of the trusted networks. The list
is read from the right: each address appended by a trusted proxy is followed to the one before
it, and the first address that is not a trusted proxy is the client. A client cannot choose
its own address by sending the header itself: what it wrote sits left of the address the
first trusted proxy appended for it, and that address is not trusted. The client address is
what audit events record and what failed-authentication throttling counts by.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_networks(value: str) -> tuple[Network, ...]:
    """Comma-separated addresses or CIDR networks (``10.0.0.0/8, ::1``); ValueError if bad."""
    return tuple(
        ipaddress.ip_network(part.strip(), strict=False)
        for part in value.split(",")
        if part.strip()
    )


def _address(text: str) -> Address | None:
    """An address from one X-Forwarded-For entry (``1.2.3.4``, ``1.2.3.4:80``, ``[::1]:80``)."""
    text = text.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class TrustedProxies:
    def __init__(self, networks: Iterable[Network]) -> None:
        self.networks = tuple(networks)

    def trusts(self, address: Address | None) -> bool:
        return address is not None and any(address in network for network in self.networks)

    def client(self, peer: str, forwarded_for: Iterable[str]) -> str:
        """The client address of a request from ``peer`` carrying these X-Forwarded-For
        header values (in the order received)."""
        current = _address(peer)
        if not self.trusts(current):
            return peer
        hops = [hop for value in forwarded_for for hop in value.split(",")]
        for hop in reversed(hops):
            previous = _address(hop)
            if previous is None:  # malformed: the last address vouched for is the client
                break
            current = previous
            if not self.trusts(current):
                break
        return str(current)


class ClientAddressMiddleware:
    """Sets the ASGI ``client`` of a request that came through a trusted proxy to the address
    of the client behind it, so every reader of ``request.client`` sees the real client."""

    def __init__(self, app: ASGIApp, *, proxies: TrustedProxies) -> None:
        self.app = app
        self.proxies = proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] in ("http", "websocket") and client:
            forwarded = [
                v.decode("latin-1") for k, v in scope["headers"] if k == b"x-forwarded-for"
            ]
            if forwarded:
                address = self.proxies.client(str(client[0]), forwarded)
                if address != client[0]:
                    scope["client"] = (address, 0)
        await self.app(scope, receive, send)
