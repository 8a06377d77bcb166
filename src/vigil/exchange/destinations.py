"""Where webhooks may go: the server POSTs to URLs members give it, so a URL must not turn Vigil
into a proxy toward its own network (SSRF: 127.0.0.1, the cloud metadata service at
169.254.169.254, RFC 1918 ranges).

A destination is checked twice: when a subscription is made (``InputError`` naming the URL and the
reason) and before every delivery, because DNS can change after the check. The check resolves the
host and refuses it if **any** address is loopback, link-local, private, multicast, reserved,
unspecified or otherwise not publicly routable, unless ``push_allow_private``; the delivery then
connects to an address that was checked (``Destination.addresses``), not to whatever a second
lookup would return. ``push_allowed_hosts`` (exact names or ``*.suffix`` wildcards), when not empty,
is a list of the only host names allowed; ``https`` is required unless ``push_allow_http``.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from vigil.core.errors import InputError
from vigil.core.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]


def resolve_host(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (TCP), in the resolver's order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[str] = []
    for info in infos:
        address = str(info[4][0]).split("%")[0]  # drop an IPv6 zone id
        if address not in found:
            found.append(address)
    return found


@dataclass(frozen=True)
class DestinationPolicy:
    allowed_hosts: tuple[str, ...] = ()
    allow_private: bool = False
    allow_http: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> DestinationPolicy:
        return cls(
            tuple(h.strip().lower().rstrip(".") for h in settings.push_allowed_hosts if h.strip()),
            settings.push_allow_private,
            settings.push_allow_http,
        )


@dataclass(frozen=True)
class Destination:
    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]  # checked; connect to one of these


def refusal(address: str) -> str | None:
    """Why a webhook may not go to ``address`` without ``push_allow_private`` (None: it may)."""
    ip: IPAddress = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for reason, flagged in (
        ("loopback", ip.is_loopback),
        ("unspecified", ip.is_unspecified),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
    ):
        if flagged:
            return f"{address} is a {reason} address"
    if not ip.is_global:
        return f"{address} is not a publicly routable address"
    return None


def _host_allowed(host: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(host, p) for p in patterns)


def _refuse(url: str, reason: str) -> InputError:
    return InputError(f"webhook url {url!r} refused: {reason}", field="url", url=url, reason=reason)


def check_destination(
    url: str, policy: DestinationPolicy, *, resolve: Resolver = resolve_host
) -> Destination:
    """``url`` with the addresses it may be delivered to, or InputError saying why not."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise _refuse(url, "only http(s) URLs receive webhooks")
    if scheme == "http" and not policy.allow_http:
        raise _refuse(url, "https is required (push_allow_http is off)")
    if parts.username or parts.password:
        raise _refuse(url, "credentials in the URL are not allowed (the signature authenticates)")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise _refuse(url, "the port is not a number from 0 to 65535") from None
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise _refuse(url, "no host")
    if policy.allowed_hosts and not _host_allowed(host, policy.allowed_hosts):
        raise _refuse(url, f"host {host} is not in push_allowed_hosts")
    try:
        # An address in the URL is used as it is; a name is looked up (now: DNS may change later).
        addresses: tuple[str, ...] = (str(ipaddress.ip_address(host)),)
    except ValueError:
        addresses = ()
    try:
        addresses = addresses or tuple(resolve(host, port))
    except (OSError, UnicodeError) as exc:
        raise _refuse(url, f"host {host} does not resolve ({exc})") from None
    if not addresses:
        raise _refuse(url, f"host {host} does not resolve")
    if not policy.allow_private:
        for address in addresses:
            why = refusal(address)
            if why is not None:
                raise _refuse(url, f"{why} (push_allow_private is off)")
    return Destination(url, scheme, host, port, addresses)
