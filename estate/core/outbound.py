"""The one way out: every HTTP call Estate makes to an address somebody typed in goes through here.

One check (check_url): the URL is http(s), names a host and carries no credentials; the host is
resolved once and every address it resolves to must lie outside the refused ranges (loopback,
link-local, cloud metadata, unspecified, multicast, reserved) unless OUTBOUND_ALLOWED_NETWORKS
allows it. Private ranges (10/8, 172.16/12, 192.168/16, fc00::/7) are allowed by default: that is
where a team's CI/CD and cluster API live. A metadata address is allowed only when the allowlist
names that very address (a /32 or /128), so allowing 169.254.0.0/16 or fc00::/7 never opens it.

One way to connect (session, pinned_url): the connection goes to the address the check resolved,
while TLS (SNI and the certificate check) and the Host header keep the name. A DNS answer that
changes between the check and the connect (rebinding) therefore cannot move the call. Redirects
are never followed: a 3xx is returned to the caller as it is.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

SETTING = "OUTBOUND_ALLOWED_NETWORKS"
DEFAULT_PORTS = {"http": 80, "https": 443}
# Instance metadata services: AWS (IPv4, IPv6), ECS task metadata, Alibaba Cloud. GCP and Azure
# answer on 169.254.169.254 too; all of 169.254/16 is link-local and refused anyway.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "169.254.170.2", "100.100.100.200")
)
THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")  # Linux connects 0.0.0.0 to the local host
NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Labels of letters, digits, hyphens (and underscores, which some internal names carry).
HOST_NAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*$"
)


class OutboundRefused(Exception):
    """The URL or the address it leads to is one Estate does not call; the message says why."""


class OutboundUnresolved(Exception):
    """The host name does not resolve (now): a failure to reach, not a refusal."""


@dataclass(frozen=True)
class Target:
    """A checked URL and the one address every connection to it goes to."""

    url: str
    scheme: str
    host: str  # the name as written (an IPv6 literal without brackets)
    port: int
    address: str  # the pinned address

    @property
    def host_is_address(self) -> bool:
        return _literal(self.host) is not None

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    def pinned_url(self, url: str | None = None) -> str:
        """`url` (by default the checked one) with its host replaced by the pinned address."""
        parts = urlsplit(url or self.url)
        address = f"[{self.address}]" if ":" in self.address else self.address
        return urlunsplit(parts._replace(netloc=f"{address}:{self.port}"))


# --- the address check ---------------------------------------------------------------------


def allowed_networks() -> list[IPNetwork]:
    """OUTBOUND_ALLOWED_NETWORKS as networks (a comma-separated string or a list)."""
    value = getattr(settings, SETTING, "") or ""
    entries = value.split(",") if isinstance(value, str) else value
    try:
        return [ipaddress.ip_network(e.strip(), strict=False) for e in entries if e.strip()]
    except ValueError as exc:
        raise ImproperlyConfigured(f"{SETTING}: {exc}") from exc


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    # ::ffff:127.0.0.1, 2002:7f00:1:: (6to4) and 64:ff9b::7f00:1 (NAT64) all reach an IPv4 address.
    if ip.version != 6:
        return None
    if ip.ipv4_mapped or ip.sixtofour:
        return ip.ipv4_mapped or ip.sixtofour
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _kind(ip: IPAddress) -> str | None:
    """What makes the address one Estate does not call by default, or None."""
    if ip in METADATA_ADDRESSES:
        return "cloud metadata (link-local)"
    checks = (
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("unspecified", ip.is_unspecified or (ip.version == 4 and ip in THIS_NETWORK)),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
    )
    return next((kind for kind, hit in checks if hit), None)


def _allowed(ip: IPAddress, networks: list[IPNetwork]) -> bool:
    # A metadata address is opened only by naming it, never by a range that happens to hold it.
    exact_only = ip in METADATA_ADDRESSES
    return any(ip in net and (not exact_only or net.num_addresses == 1) for net in networks)


def refused_kind(ip: IPAddress | str) -> str | None:
    """The kind of address ("loopback", ...) that makes Estate refuse to call it, or None when it may."""
    ip = ipaddress.ip_address(ip)
    # An address that carries an IPv4 address is judged by it (Python files ::ffff:0:0/96 as reserved).
    candidate = _embedded_ipv4(ip) or ip
    kind = _kind(candidate)
    return kind if kind and not _allowed(candidate, allowed_networks()) else None


def _refusal(kind: str) -> str:
    article = "an" if kind[0] in "aeiou" else "a"
    return f"{article} {kind} address; outbound calls to it are refused unless {SETTING} allows it"


def address_refusal(ip: IPAddress | str) -> str | None:
    """Why Estate does not call this address, or None when it may."""
    kind = refused_kind(ip)
    return f"{ip} is {_refusal(kind)}" if kind else None


# --- the URL check -------------------------------------------------------------------------


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _parse(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a URL Estate may call at all, whatever the host resolves to."""
    if not isinstance(url, str) or not url.strip():
        raise OutboundRefused("a URL is required, e.g. https://ci.example.com/hook")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise OutboundRefused(f"{url!r} is not a valid URL ({exc})") from exc
    if parts.scheme not in DEFAULT_PORTS:
        raise OutboundRefused(f"{url!r}: only http and https URLs are called")
    if parts.username is not None or parts.password is not None:
        raise OutboundRefused("credentials do not belong in the URL; name a secret variable in secret_env instead")
    if not parts.hostname:
        raise OutboundRefused(f"{url!r} names no host")
    host = parts.hostname.rstrip(".")
    if _literal(host) is None and not _is_host_name(host):
        raise OutboundRefused(f"{parts.hostname!r} is not a host name")
    if port == 0:
        raise OutboundRefused(f"{url!r}: port 0 is not a port to call")
    return parts.scheme, host, port or DEFAULT_PORTS[parts.scheme]


def _is_host_name(host: str) -> bool:
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    return bool(HOST_NAME.match(ascii_host))


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address the host resolves to (a literal address is itself), in the resolver's order."""
    literal = _literal(host)
    if literal is not None:
        return [literal]
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise OutboundUnresolved(f"{host} does not resolve ({exc})") from exc
    # A scope id (fe80::1%eth0) is not part of the address; ip_address() refuses it.
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in answers]
    return list(dict.fromkeys(addresses))


def check_url(url: str) -> Target:
    """The URL checked and its host resolved once, every answer checked; raises OutboundRefused
    (or OutboundUnresolved). Connect to target.address only: a second look-up could answer otherwise."""
    scheme, host, port = _parse(url)
    addresses = resolve(host, port)
    for ip in addresses:
        kind = refused_kind(ip)
        if kind:
            said = f"{ip} is" if str(ip) == host else f"{host} resolves to {ip},"
            raise OutboundRefused(f"{said} {_refusal(kind)}")
    return Target(url=url.strip(), scheme=scheme, host=host, port=port, address=str(addresses[0]))


def url_refusal(url: str) -> str | None:
    """Why the URL may not be saved, or None. A name that does not resolve now is accepted: it is
    checked again, resolved and pinned at every call (the worker may see a DNS the web tier does not)."""
    try:
        check_url(url)
    except OutboundRefused as exc:
        return str(exc)
    except OutboundUnresolved:
        return None
    return None


# --- the session ---------------------------------------------------------------------------


class PinnedAdapter(HTTPAdapter):
    """Connects to the pinned address; for https, SNI and the certificate check use the name."""

    def __init__(self, target: Target, **kwargs):
        self.target = target
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        if self.target.scheme == "https" and not self.target.host_is_address:
            kwargs.update(server_hostname=self.target.host, assert_hostname=self.target.host)
        super().init_poolmanager(*args, **kwargs)


def retry(*, total: int, backoff_seconds: float = 0.0, statuses=(429, 500, 502, 503, 504)) -> Retry:
    """Retries of connection errors and the given statuses, never of a redirect (returned as it is).

    The first retry is immediate, then the waits are backoff_seconds, doubling (urllib3 waits
    factor × 2^(n-1) from the second retry on). Every method is retried: Estate's outbound requests
    carry their own idempotency key. Retry-After is not obeyed: a peer could hold a worker for as
    long as it liked.
    """
    return Retry(
        total=total,
        backoff_factor=backoff_seconds / 2,
        status_forcelist=statuses,
        allowed_methods=None,
        redirect=False,
        raise_on_status=False,
        respect_retry_after_header=False,
    )


def session(target: Target, *, retries: Retry | int = 0) -> requests.Session:
    """A session whose every connection goes to target.address. Proxies and .netrc from the
    environment are ignored (trust_env off): a proxy would resolve the name again itself."""
    pinned = requests.Session()
    pinned.trust_env = False
    adapter = PinnedAdapter(target, max_retries=retries)
    pinned.mount("http://", adapter)
    pinned.mount("https://", adapter)
    pinned.headers["Host"] = target.host_header
    return pinned


def request(method: str, url: str, *, retries: Retry | int = 0, **kwargs) -> requests.Response:
    """Check `url`, then send one request (with retries) to its pinned address; redirects are not followed."""
    target = check_url(url)
    with session(target, retries=retries) as pinned:
        return pinned.request(method, target.pinned_url(), allow_redirects=False, **kwargs)
