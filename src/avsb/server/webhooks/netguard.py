"""SSRF guard: webhook destinations must be public addresses, checked when a URL is saved and
again on every delivery, after DNS resolution, with the connection pinned to the vetted address
(so a hostname cannot rebind to a private address between the check and the connect)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port -> resolved addresses (as strings); injectable so tests can simulate rebinding.
Resolver = Callable[[str, int], Awaitable[list[str]]]

_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))


class DestinationRefused(Exception):  # noqa: N818 - reads as the outcome it reports
    """The URL or the address it resolves to is not an allowed webhook destination."""


@dataclass(frozen=True)
class Target:
    """A parsed destination: the URL as given and where it connects."""

    url: httpx.URL
    host: str
    port: int


def _translated_ipv4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv4-mapped or NAT64 (64:ff9b::/96) address stands for."""
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr in _NAT64[0]:
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return None


def _tunnelled_ipv4(addr: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses a 6to4 or Teredo address tunnels to."""
    out = [addr.sixtofour] if addr.sixtofour is not None else []
    if addr.teredo is not None:
        out.extend(addr.teredo)
    return out


def _is_public(addr: IPAddress) -> bool:
    blocked = (
        addr.is_private
        or addr.is_loopback
        or addr.is_link_local
        or addr.is_multicast
        or addr.is_reserved
        or addr.is_unspecified
        or not addr.is_global
    )
    if isinstance(addr, ipaddress.IPv6Address):
        blocked = blocked or addr.is_site_local or addr in _NAT64[1]
    return not blocked


def address_allowed(address: str | IPAddress) -> bool:
    """True for a public unicast address (IPv4, IPv6, and whatever IPv4 an IPv6 one embeds)."""
    try:
        addr = ipaddress.ip_address(address) if isinstance(address, str) else address
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address):
        translated = _translated_ipv4(addr)
        if translated is not None:  # the connection really goes to this IPv4 address
            return _is_public(translated)
        return _is_public(addr) and all(_is_public(v4) for v4 in _tunnelled_ipv4(addr))
    return _is_public(addr)


def parse(url: str) -> Target:
    """An absolute http(s) URL with a host, else ``DestinationRefused``."""
    try:
        parsed = httpx.URL(url)
        host = parsed.raw_host.decode("ascii")
        parsed.host  # noqa: B018 - decodes IDNA labels, raising on a malformed one
    except (httpx.InvalidURL, TypeError, ValueError) as exc:  # IDNA errors are ValueErrors
        raise DestinationRefused(f"Not a valid URL: {exc}") from exc
    if parsed.scheme not in ("http", "https"):
        raise DestinationRefused("Only http and https URLs are allowed.")
    if not host:
        raise DestinationRefused("The URL has no host.")
    if parsed.fragment:
        raise DestinationRefused("The URL must not have a fragment.")
    port = parsed.port if parsed.port is not None else (443 if parsed.scheme == "https" else 80)
    if not 0 < port < 65536:
        raise DestinationRefused("The URL's port must be between 1 and 65535.")
    # The ASCII (IDNA) form is what DNS, the Host header and TLS SNI all use.
    return Target(parsed, host, port)


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _refused(host: str, address: str) -> DestinationRefused:
    return DestinationRefused(
        f"{host!r} resolves to {address}, a private, loopback, link-local, multicast or reserved "
        "address; webhooks may only call public addresses."
    )


def vet_url(url: str, *, allow_private: bool) -> Target:
    """Check a URL when it is saved: scheme, host, and every address the host resolves to now.

    A hostname that does not resolve yet is accepted: every delivery checks it again.
    """
    target = parse(url)
    if allow_private:
        return target
    literal = _literal(target.host)
    if literal is not None:
        if not address_allowed(literal):
            raise _refused(target.host, str(literal))
        return target
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return target
    for info in infos:
        address = str(info[4][0])
        if not address_allowed(address):
            raise _refused(target.host, address)
    return target


async def system_resolver(host: str, port: int) -> list[str]:
    """The host's addresses from the system resolver."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def pin(target: Target, *, allow_private: bool, resolver: Resolver) -> str:
    """The address to connect to: resolved once, every address vetted, the first one used."""
    literal = _literal(target.host)
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = await resolver(target.host, target.port)
        except (OSError, UnicodeError) as exc:
            raise DestinationRefused(f"Cannot resolve {target.host!r}: {exc}") from exc
        if not addresses:
            raise DestinationRefused(f"{target.host!r} has no addresses.")
    if not allow_private:
        for address in addresses:
            if not address_allowed(address):
                raise _refused(target.host, address)
    return addresses[0]


def pinned_request_args(
    target: Target, address: str
) -> tuple[httpx.URL, dict[str, str], dict[str, str]]:
    """URL, headers and extensions that connect to ``address`` yet speak to ``target.host``.

    The URL's host becomes the vetted address; ``Host`` keeps the name for virtual hosting, and
    for https the TLS SNI and certificate check use the name too (httpcore's ``sni_hostname``).
    """
    url = target.url.copy_with(host=address)
    default_port = 443 if target.url.scheme == "https" else 80
    host_header = f"[{target.host}]" if ":" in target.host else target.host
    if target.port != default_port:
        host_header += f":{target.port}"
    extensions = {"sni_hostname": target.host} if target.url.scheme == "https" else {}
    return url, {"Host": host_header}, extensions
