"""Outbound requests to caller-chosen URLs (webhooks) without server-side request forgery.

- Only `https` (plain `http` only where the deployment allows it: the local stack).
- The host name is resolved once; every address it resolves to must be public (not
  private, loopback, link-local — the metadata server 169.254.169.254 among them — CGNAT
  100.64/10, IPv6 unique-local, multicast, reserved or unspecified), unless the address is
  in an explicit allow-list of networks (the local stack allows 127.0.0.1).
- An IPv6 address that carries an IPv4 address is judged by that IPv4 address too:
  IPv4-mapped `::ffff:0:0/96` (it is that IPv4 host) and IPv4-compatible `::/96`
  (RFC 4291 2.5.5), NAT64 `64:ff9b::/96` (RFC 6052), 6to4 `2002::/16` (RFC 3056) and
  Teredo `2001::/32` (RFC 4380: server and client). Python's tables call
  `::a9fe:a9fe`, `64:ff9b::a9fe:a9fe` and `2002:a9fe:a9fe::` global (3.11), yet each
  reaches 169.254.169.254 through a translator or tunnel (issue 31). The local-use NAT64
  prefix `64:ff9b:1::/48` (RFC 8215) is refused whole: it is not globally reachable, and
  where in it the IPv4 address sits is the operator's choice.
- The connection goes to the address that was checked (TLS still verifies the name), so
  a second DNS answer cannot swap in another address (DNS rebinding).
- Redirects are never followed; a 3xx is the answer.
- An optional allow-list of host names narrows it further.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Not global, or special even where Python's tables call them global.
_ALWAYS_REFUSED = tuple(
    ipaddress.ip_network(n)
    for n in (
        "169.254.0.0/16",  # link-local, the metadata server
        "100.64.0.0/10",  # carrier-grade NAT
        "fd00::/8",  # IPv6 unique-local
        "fe80::/10",  # IPv6 link-local
        "fd00:ec2::254/128",
        "64:ff9b:1::/48",  # local-use NAT64 (RFC 8215)
    )
)
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class Refused(Exception):
    """The URL may not be called (the message says why); retrying will not help."""


@dataclass(frozen=True)
class Guard:
    allow_http: bool = False
    allowed_networks: tuple[Network, ...] = ()  # e.g. 127.0.0.1/32 for the local stack
    allowed_hosts: tuple[str, ...] = field(default_factory=tuple)  # empty: any public host

    @classmethod
    def from_settings(cls, allow_http: bool, networks: list[str], hosts: list[str]) -> Guard:
        return cls(
            allow_http=allow_http,
            allowed_networks=tuple(ipaddress.ip_network(n, strict=False) for n in networks),
            allowed_hosts=tuple(h.lower() for h in hosts),
        )

    def address_allowed(self, address: Address) -> bool:
        if address.version == 6 and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in net for net in self.allowed_networks):
            return True
        if any(address in net for net in _ALWAYS_REFUSED if net.version == address.version):
            return False
        if not all(self.address_allowed(inner) for inner in embedded_ipv4(address)):
            return False
        return address.is_global and not address.is_multicast

    def resolve(self, url: str) -> tuple[str, int, Address]:
        """(host, port, the one checked address to connect to); Refused otherwise."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme != "https" and not (parts.scheme == "http" and self.allow_http):
            raise Refused(f"only https URLs may be called, not {parts.scheme or 'none'}://")
        if not host:
            raise Refused("the URL has no host")
        if self.allowed_hosts and host not in self.allowed_hosts:
            raise Refused(f"{host} is not in the webhook host allow-list")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:  # `:99999`, `:abc`: once an escaped error, redelivered
            raise Refused(f"bad port: {exc}") from None
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError, ValueError) as exc:
            # UnicodeError: a label over 63 characters fails IDNA encoding before any lookup
            raise Refused(f"{host[:100]} does not resolve: {exc}") from None
        addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
        bad = [str(a) for a in addresses if not self.address_allowed(a)]
        if bad or not addresses:
            raise Refused(f"{host} resolves to a non-public address ({', '.join(bad)})")
        return host, port, addresses[0]


def embedded_ipv4(address: Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (IPv4-mapped is handled by the caller:
    it is the IPv4 host itself). The standard library knows 6to4 and Teredo; the
    IPv4-compatible and NAT64 forms keep the IPv4 address in their last 32 bits."""
    if address.version != 6:
        return []
    assert isinstance(address, ipaddress.IPv6Address)
    found: list[ipaddress.IPv4Address] = []
    if address in _IPV4_COMPATIBLE or address in _NAT64:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)  # (server, client)
    return found


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no HTTP answer (timeout, refused connection, TLS failure)
    error: str | None = None


def post(guard: Guard, url: str, body: bytes, headers: dict[str, str], timeout: float) -> Answer:
    """POST `body` to `url` through the guard; Refused before any connection is made."""
    import urllib3  # only deliver_webhooks posts: ~40 ms on import (`python -X importtime`)

    host, port, address = guard.resolve(url)
    parts = urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    target = f"[{address}]" if address.version == 6 else str(address)
    common = {"port": port, "timeout": urllib3.Timeout(total=timeout), "retries": False}
    if parts.scheme == "https":
        pool: urllib3.HTTPConnectionPool = urllib3.HTTPSConnectionPool(
            target, server_hostname=host, assert_hostname=host, cert_reqs="CERT_REQUIRED", **common
        )
    else:
        pool = urllib3.HTTPConnectionPool(target, **common)
    default_port = 443 if parts.scheme == "https" else 80
    host_header = host if port == default_port else f"{host}:{port}"
    try:
        response = pool.urlopen(
            "POST",
            path,
            body=body,
            headers={**headers, "Host": host_header},
            redirect=False,
            preload_content=False,
        )
        response.read(64 * 1024, decode_content=False)  # a little of the answer, no more
        response.release_conn()
        status = response.status
        error = (
            f"redirect to {response.headers.get('Location', '?')} not followed"
            if 300 <= status < 400
            else None
        )
        return Answer(status, error)
    except urllib3.exceptions.HTTPError as exc:
        return Answer(None, f"{type(exc).__name__}: {exc}"[:300])
    finally:
        pool.close()
