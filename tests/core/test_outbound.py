"""estate.core.outbound: the one address check and the one pinned way out, against real listeners on
loopback. No DNS server answers here, so the test's own names are answered by a resolver the test
controls (socket.getaddrinfo replaced for those names only); everything else resolves for real."""

from __future__ import annotations

import datetime
import re
import socket
import ssl
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from estate.core import outbound


class Listener:
    """An HTTP(S) server on a loopback address that records what reaches it."""

    def __init__(self, address: str = "127.0.0.1", *, port: int = 0, status: int = 200, location: str = "", tls=None):
        self.requests: list[dict] = []
        self.server_names: list[str | None] = []
        self.status, self.location = status, location
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                listener.requests.append(
                    {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
                )
                self.send_response(listener.status)
                if listener.location:
                    self.send_header("Location", listener.location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_PATCH = _record

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((address, port), Handler)
        self.port = self.server.server_port
        if tls is not None:
            tls.sni_callback = lambda sock, name, ctx: self.server_names.append(name)
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Listener:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def auth(self) -> list[str]:
        return [r["headers"].get("Authorization", "") for r in self.requests]


class FakeDNS:
    """Answers the test's names in turn (the last answer repeats) and counts the look-ups."""

    def __init__(self, real):
        self.real = real
        self.answers: dict[str, list[list[str]]] = {}
        self.asked: Counter = Counter()

    def __call__(self, host, port, *args, **kwargs):
        if host not in self.answers:
            return self.real(host, port, *args, **kwargs)
        self.asked[host] += 1
        turns = self.answers[host]
        addresses = turns[min(self.asked[host], len(turns)) - 1]
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (a, int(port or 0), 0, 0))
            if ":" in a
            else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, int(port or 0)))
            for a in addresses
        ]


@pytest.fixture
def dns(monkeypatch) -> FakeDNS:
    fake = FakeDNS(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return fake


@pytest.fixture
def allow_loopback(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = "127.0.0.1/32"


# --- the address check ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata (link-local)"),
        ("http://[fd00:ec2::254]/latest/meta-data/", "cloud metadata (link-local)"),
        ("http://127.0.0.1:8000/", "loopback"),
        ("http://[::1]/", "loopback"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://[64:ff9b::a9fe:a9fe]/", "cloud metadata (link-local)"),
        ("http://169.254.10.1/", "link-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://0.0.0.0:22/", "unspecified"),
        ("http://224.0.0.1/", "multicast"),
        ("http://240.0.0.1/", "reserved"),
    ],
)
def test_loopback_link_local_metadata_and_other_special_addresses_are_refused(settings, url, kind):
    settings.OUTBOUND_ALLOWED_NETWORKS = ""
    with pytest.raises(outbound.OutboundRefused, match=re.escape(kind) + " address.*OUTBOUND_ALLOWED_NETWORKS"):
        outbound.check_url(url)


@pytest.mark.parametrize(
    "url", ["https://10.1.2.3/hook", "http://192.168.7.7:8080/", "https://8.8.8.8/", "http://[fc00::1]/"]
)
def test_private_and_public_addresses_are_called_by_default(url):
    target = outbound.check_url(url)
    assert target.address == target.host


@pytest.mark.parametrize("host", ["localhost", "127.1", "2130706433", "0x7f000001"])
def test_a_name_that_resolves_to_loopback_is_refused(host):
    """Real resolutions (/etc/hosts, the C library's shorthand numbers), no fake needed: what is
    checked is every address the name resolves to, however it is spelt."""
    with pytest.raises(outbound.OutboundRefused, match=f"{host} resolves to 127.0.0.1, a loopback address"):
        outbound.check_url(f"http://{host}:8000/")


def test_a_name_is_refused_when_any_of_its_answers_is_refused(dns):
    dns.answers["ci.mixed.test"] = [["10.0.0.5", "169.254.169.254"]]
    with pytest.raises(outbound.OutboundRefused, match="169.254.169.254, a cloud metadata"):
        outbound.check_url("https://ci.mixed.test/hook")


def test_the_allowlist_opens_loopback(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = "127.0.0.1/32, ::1/128"
    assert outbound.check_url("http://127.0.0.1:9/").address == "127.0.0.1"
    assert outbound.check_url("http://[::1]:9/").address == "::1"
    with pytest.raises(outbound.OutboundRefused):
        outbound.check_url("http://127.0.0.2/")


def test_a_range_never_opens_the_metadata_address_only_naming_it_does(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = "169.254.0.0/16,fc00::/7"
    assert outbound.check_url("http://169.254.10.1/").address == "169.254.10.1"
    for url in ("http://169.254.169.254/", "http://[fd00:ec2::254]/"):
        with pytest.raises(outbound.OutboundRefused, match="metadata"):
            outbound.check_url(url)
    settings.OUTBOUND_ALLOWED_NETWORKS = "169.254.169.254/32"
    assert outbound.check_url("http://169.254.169.254/").address == "169.254.169.254"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://ci.example.com/x", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("gopher://10.0.0.1:70/", "only http and https"),
        ("https://user:secret@ci.example.com/", "credentials do not belong in the URL"),
        ("http:///path", "names no host"),
        ("http://10.0.0.1:99999/", "not a valid URL"),
        ("http://10.0.0.1:0/", "port 0"),
        ("http://exa mple.com/", "not a host name"),
        ("http://%31%32%37.0.0.1/", "not a host name"),
        ("", "a URL is required"),
    ],
)
def test_only_plain_http_urls_with_a_host_and_no_credentials(url, reason):
    with pytest.raises(outbound.OutboundRefused, match=reason):
        outbound.check_url(url)


def test_a_name_that_does_not_resolve_may_be_saved_but_is_not_called():
    assert outbound.url_refusal("https://ci.nowhere.invalid/hook") is None
    with pytest.raises(outbound.OutboundUnresolved):
        outbound.check_url("https://ci.nowhere.invalid/hook")


# --- the pinned way out --------------------------------------------------------------------


def test_a_rebound_name_still_reaches_the_address_that_was_checked(dns, allow_loopback):
    """DNS rebinding: the name answers an allowed address to the check and an internal one afterwards
    (a listener on the same port waits there). The call goes to the checked address, the name is
    looked up once, and the Host header keeps the name."""
    with Listener("127.0.0.1") as checked, Listener("127.0.0.2", port=checked.port) as internal:
        dns.answers["ci.rebind.test"] = [["127.0.0.1"], ["127.0.0.2"]]
        reply = outbound.request("POST", f"http://ci.rebind.test:{checked.port}/hook", data=b"{}", timeout=5)
    assert reply.status_code == 200
    assert [r["path"] for r in checked.requests] == ["/hook"]
    assert checked.requests[0]["headers"]["Host"] == f"ci.rebind.test:{checked.port}"
    assert internal.requests == []
    assert dns.asked["ci.rebind.test"] == 1


def test_a_redirect_is_returned_not_followed(allow_loopback):
    with Listener("127.0.0.2") as internal:
        target = f"http://127.0.0.2:{internal.port}/latest/meta-data/"
        with Listener("127.0.0.1", status=302, location=target) as ci:
            reply = outbound.request("POST", f"http://127.0.0.1:{ci.port}/hook", data=b"{}", timeout=5)
    assert reply.status_code == 302
    assert len(ci.requests) == 1 and internal.requests == []


def test_retries_go_to_the_same_pinned_address(dns, allow_loopback):
    with Listener("127.0.0.1", status=503) as ci:
        dns.answers["ci.flaky.test"] = [["127.0.0.1"], ["10.255.255.1"]]
        retries = outbound.retry(total=2, backoff_seconds=0)
        reply = outbound.request("POST", f"http://ci.flaky.test:{ci.port}/hook", retries=retries, timeout=5)
    assert reply.status_code == 503 and len(ci.requests) == 3
    assert dns.asked["ci.flaky.test"] == 1


# --- TLS: the connection is pinned, the certificate and SNI still name the host --------------


def certificates(tmp_path, name: str):
    """A CA and a server certificate for `name` signed by it; returns (ca file, server context)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "estate test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    leaf = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    ca_file, cert_file, key_file = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return str(ca_file), context


def test_https_is_pinned_while_sni_and_the_certificate_check_use_the_name(dns, allow_loopback, tmp_path):
    ca_file, context = certificates(tmp_path, "ci.pinned.test")
    with Listener("127.0.0.1", tls=context) as ci:
        dns.answers["ci.pinned.test"] = [["127.0.0.1"], ["127.0.0.2"]]
        reply = outbound.request("GET", f"https://ci.pinned.test:{ci.port}/ping", verify=ca_file, timeout=5)
    assert reply.status_code == 200
    assert ci.server_names == ["ci.pinned.test"]
    assert ci.requests[0]["headers"]["Host"] == f"ci.pinned.test:{ci.port}"
    assert dns.asked["ci.pinned.test"] == 1


def test_https_to_a_host_whose_certificate_names_another_is_refused(dns, allow_loopback, tmp_path):
    ca_file, context = certificates(tmp_path, "someone-else.test")
    with Listener("127.0.0.1", tls=context) as ci:
        dns.answers["ci.pinned.test"] = [["127.0.0.1"]]
        with pytest.raises(requests.exceptions.SSLError):
            outbound.request("GET", f"https://ci.pinned.test:{ci.port}/ping", verify=ca_file, timeout=5)
    assert ci.requests == []
