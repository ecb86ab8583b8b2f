"""Fetching a web page to read: http and https only, never a private address unless allowed.

A URL someone passes to ``index add``, the REPL's or Telegram's ``/add`` must not make
articlebot a way into the network it runs in (server-side request forgery): the cloud
metadata service at 169.254.169.254, an admin page on localhost, a router at 192.168.1.1. So
every hop, the URL and each redirect (followed here, at most ``MAX_REDIRECTS``), is resolved,
every address of the name is checked, and the connection goes to the checked address itself,
with the name in the Host header and for TLS: a DNS answer that changes between the check and
the connection (DNS rebinding) changes nothing. Proxies from the environment are not used: a
proxy would look the name up again, itself.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import httpx

MAX_REDIRECTS = 5
USER_AGENT = "articlebot/0.1 (+https://github.com/articlebot)"
ALLOW_HINT = "set ARTICLEBOT_ALLOW_PRIVATE_URLS=true to allow private addresses"

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> the host's addresses, as text; a test may stand in for DNS.
Resolver = Callable[[str, int], list[str]]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # IPv4 addresses reached through a NAT64 gateway


class FetchError(ValueError):
    """A page could not be fetched, or was refused; the message says why, for a person."""


@dataclass
class Page:
    """What a URL gave: the URL it was finally found at, its media type and its content.

    ``status`` is 304 (and ``data`` empty) when a conditional request (If-None-Match,
    If-Modified-Since) found the page unchanged; ``headers`` are the response's, names in
    lower case (``etag``, ``last-modified``).
    """

    url: str
    content_type: str
    data: bytes
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` has (an IP address is its own), first as the system orders them."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise FetchError(f"could not fetch it (no address for {host}: {reason})") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def non_public(address: Address) -> str | None:
    """What kind of address ``address`` is if the internet cannot reach it ("a loopback
    address"), or None for a public one. IPv4 inside IPv6 (::ffff:127.0.0.1, 6to4, NAT64)
    is judged by its IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = address.ipv4_mapped or address.sixtofour
        if inner is None and address in _NAT64:
            inner = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if inner is not None:
            return non_public(inner)
    for kind, test in (
        ("an unspecified", address.is_unspecified),
        ("a loopback", address.is_loopback),
        ("a link-local", address.is_link_local),
        ("a multicast", address.is_multicast),
        ("a reserved", address.is_reserved),
        ("a private", address.is_private),
        ("a non-public", not address.is_global),  # shared (100.64/10), documentation...
    ):
        if test:
            return f"{kind} address"
    return None


def fetch(
    url: str,
    *,
    max_bytes: int,
    timeout: float,
    allow_private: bool = False,
    resolver: Resolver = resolve,
    exempt: Callable[[Address, int], bool] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Page:
    """The page at an http(s) URL, redirects followed; FetchError says why there is none.

    Without ``allow_private``, a URL or redirect to an address the internet cannot reach is
    refused. ``exempt`` lets chosen addresses through all the same (address, port -> True).
    ``headers`` go with every request (validators for a conditional GET, say); a 304 answer
    gives a Page with ``status`` 304 and no data.
    """
    # An explicit transport: environment proxies off (see the module docstring); the
    # environment's CA certificates still count.
    with httpx.Client(
        transport=httpx.HTTPTransport(),
        timeout=timeout,
        headers={"User-Agent": USER_AGENT},
    ) as client:
        current = url
        for hop in range(MAX_REDIRECTS + 1):
            try:
                target = httpx.URL(current)
            except httpx.InvalidURL as exc:
                raise FetchError(f"not a valid URL: {current} ({exc})") from exc
            refusal = "refused" if hop == 0 else f"refused the redirect to {current}"
            if target.scheme not in ("http", "https"):
                raise FetchError(f"{refusal}: only http and https URLs are fetched")
            address = _checked_address(target, allow_private, resolver, exempt, refusal)
            request = client.build_request(
                "GET",
                target.copy_with(host=address),
                headers={**(headers or {}), "Host": target.netloc.decode("ascii")},
                extensions=_tls_name(target),
            )
            try:
                response = client.send(request, stream=True)
            except httpx.HTTPError as exc:
                raise FetchError(_failure(exc)) from exc
            try:
                location = response.headers.get("location")
                if response.is_redirect and location:
                    # (httpx has checked the Location already, to offer response.next_request.)
                    current = str(target.join(location))
                    continue
                if response.status_code >= 400:
                    raise FetchError(f"the server answered HTTP {response.status_code}")
                found = dict(response.headers)  # httpx gives the names in lower case
                if response.status_code == 304:  # not modified: no body to read
                    return Page(str(target), _media_type(response), b"", 304, found)
                data = _body(response, max_bytes)
                return Page(str(target), _media_type(response), data, response.status_code, found)
            finally:
                response.close()
    raise FetchError(f"too many redirects (more than {MAX_REDIRECTS})")


def _checked_address(
    target: httpx.URL,
    allow_private: bool,
    resolver: Resolver,
    exempt: Callable[[Address, int], bool] | None,
    refusal: str,
) -> str:
    """The address to connect to for ``target``, once every address of its host passed."""
    host = target.raw_host.decode("ascii")
    port = target.port or (443 if target.scheme == "https" else 80)
    addresses = [ipaddress.ip_address(a) for a in resolver(host, port)]
    if not addresses:
        raise FetchError(f"could not fetch it (no address for {host})")
    if not allow_private:
        # All of them, not only the first: which one is used is up to whoever answers DNS.
        for address in addresses:
            kind = non_public(address)
            if kind and not (exempt and exempt(address, port)):
                named = f"{host} is" if _is_address(host) else f"{host} is {address},"
                raise FetchError(f"{refusal}: {named} {kind}; {ALLOW_HINT}")
    return str(addresses[0])


def _tls_name(target: httpx.URL) -> dict:
    """The name the certificate must hold, since the URL sent names the address."""
    host = target.raw_host.decode("ascii")
    if target.scheme != "https" or _is_address(host):
        return {}  # an address in the URL: the certificate must name it, as without pinning
    return {"sni_hostname": host}


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _body(response: httpx.Response, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(f"the page is over the {max_bytes:,}-byte limit")
    chunks, size = [], 0
    try:
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise FetchError(f"the page is over the {max_bytes:,}-byte limit")
            chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise FetchError(_failure(exc)) from exc
    return b"".join(chunks)


def _media_type(response: httpx.Response) -> str:
    return response.headers.get("content-type", "").split(";")[0].strip().lower()


def _failure(exc: httpx.HTTPError) -> str:
    return f"could not fetch it ({type(exc).__name__}: {exc or 'no answer'})"
