"""Reading files and URLs, in-process: what each bad input is told, private addresses refused,
redirects checked, JSONL read line by line, and text cleaned of what could fool a reader or a
terminal. tests/test_ingest.py drives the same through the `articlebot` command."""

from __future__ import annotations

import ipaddress
import json
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from index.cleaning import clean_text
from index.fetch import ALLOW_HINT, FetchError, fetch, non_public
from index.readers import Limits, ReadError, load, load_bytes, read_bytes, read_url

from .test_ingest import HTML_PAGE, SOLAR_TEXT

ALLOW = Limits(allow_private_urls=True)
HTML_WITHOUT_TEXT = (
    b"<html><head><script>alert('x')</script></head><body><script>var a=1;</script></body></html>"
)


class Site(BaseHTTPRequestHandler):
    """Pages, redirects and errors; ``routes`` maps a path to (status, headers, body)."""

    protocol_version = "HTTP/1.1"  # for chunked replies
    routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
    hosts: list[str] = []  # the Host header of every request

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.hosts.append(self.headers["Host"])
        status, headers, body = self.routes.get(self.path, (404, {}, b"not found"))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if "Transfer-Encoding" not in headers:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.end_headers()  # chunked: no length announced, the size shows as it arrives
        for start in range(0, len(body), 4096):
            piece = body[start : start + 4096]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, *args):
        pass


def serve(routes: dict, handler: type = Site, wrap: Callable | None = None):
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (handler,), {"routes": routes}))
    if wrap:
        server.socket = wrap(server.socket)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def page(body: bytes, content_type: str = "text/html; charset=utf-8", **headers: str):
    return (200, {"Content-Type": content_type, **headers}, body)


def redirect(location: str, status: int = 302):
    return (status, {"Location": location}, b"")


@pytest.fixture(scope="module")
def site():
    routes = {
        "/solar.html": page(HTML_PAGE.encode()),
        "/empty.html": page(HTML_WITHOUT_TEXT),
        "/story.txt": page(b"Solar plant\n\n" + SOLAR_TEXT.encode(), "text/plain"),
        "/big.txt": page(b"Solar power. " * 2000, "text/plain"),
        "/big-chunked.txt": page(
            b"Solar power. " * 2000, "text/plain", **{"Transfer-Encoding": "chunked"}
        ),
        "/broken": (500, {}, b"oops"),
        "/moved": redirect("/story.txt", 301),
        "/to-file": redirect("file:///etc/passwd"),
        "/to-nowhere": redirect("http://[zz]/"),
        "/loop": redirect("/loop"),
    }
    server = serve(routes)
    yield f"http://127.0.0.1:{server.server_address[1]}", routes
    server.shutdown()


def free_port() -> int:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def only_error(target: str, limits: Limits = ALLOW) -> str:
    """The one error line `articlebot index add TARGET` would print (after "error   ")."""
    (loaded,) = list(load([target], limits))
    assert loaded.articles == [] and loaded.error, loaded
    return loaded.error


# ---- files that cannot be read --------------------------------------------------------

BAD_FILES = {
    "empty.txt": (b"", "the file is empty"),
    "blank.md": (b"\n\n   \n", "the file is empty"),
    "binary.txt": (bytes(range(256)) * 40, "this is a binary file, not text"),
    "controls.txt": (b"\x01\x02\x03\x04 text" * 400, "this looks like a binary file, not text"),
    "latin1.txt": (
        "Café au lait à Paris.".encode("latin-1"),
        "not UTF-8 text (bad byte at offset 3)",
    ),
    "broken.pdf": (b"%PDF-1.4\n1 0 obj << /Type /Catalog >>\ngarbage" * 20, "not a readable PDF"),
    "script.html": (HTML_WITHOUT_TEXT, "no article text found in this HTML page"),
    "menu.html": (
        b"<html><head><title>Menu</title></head><body><nav><a href='/'>Home</a> | "
        b"<a href='/about'>About</a> | <a href='/news'>Latest news</a></nav>"
        b"<footer>Copyright 2026 Harbor City Times</footer></body></html>",
        "no article text found in this HTML page",
    ),
    "invisible.txt": ("\u200b\u202e\u2066 \x1b[2J\n".encode(), "no article text found in it"),
    "photo.jpg": (b"\xff\xd8\xff", "unsupported file type .jpg; use .htm, .html, .jsonl"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_file_is_refused_with_its_reason(tmp_path, name):
    content, message = BAD_FILES[name]
    path = tmp_path / name
    path.write_bytes(content)
    error = only_error(str(path))
    assert error.startswith(f"{path}: ") and message in error, error


@pytest.mark.parametrize(
    "paragraph",
    [
        "The harbor city opened a desalination plant on Monday.",
        "बंदरगाह शहर ने सोमवार को एक नया संयंत्र खोला।",  # Hindi: a danda ends it
        "شہر نے پیر کو ایک نیا پلانٹ کھولا۔",  # Urdu's full stop
        # Thai marks no sentence's end: a paragraph is prose by its length.
        "เมืองท่าเปิดโรงงานกลั่นน้ำทะเลแห่งใหม่เมื่อวันจันทร์ตามที่เจ้าหน้าที่กล่าว",
    ],
)
def test_an_html_page_of_one_short_paragraph_is_an_article(tmp_path, paragraph):
    page = tmp_path / "brief.html"
    page.write_text(
        "<html><head><title>Plant opens</title></head><body><nav>Home | About</nav><article>"
        f"<p>{paragraph}</p></article></body></html>",
        encoding="utf-8",
    )
    (loaded,) = list(load([str(page)], ALLOW))
    assert loaded.error is None, loaded.error
    (article,) = loaded.articles
    assert paragraph in article.text


def test_an_address_of_another_scheme_is_refused_as_one():
    error = only_error("ftp://example.org/a.txt")
    assert (
        error == "ftp://example.org/a.txt: only http:// and https:// addresses are read, not ftp://"
    )


def test_missing_file_and_empty_folder_are_refused(tmp_path):
    assert only_error(str(tmp_path / "nope.txt")) == f"{tmp_path / 'nope.txt'}: no such file"
    assert only_error(str(tmp_path)) == (
        f"{tmp_path}: no .htm, .html, .jsonl, .markdown, .md, .pdf, .txt files"
    )


def test_files_over_the_limits_are_refused(tmp_path):
    long = tmp_path / "long.txt"
    long.write_text("Lorem ipsum dolor sit amet. " * 100, encoding="utf-8")
    error = only_error(str(long), Limits(max_chars=1000))
    assert error == (
        f"{long}: the text is 2,799 characters; the limit is 1,000 (ARTICLEBOT_MAX_ARTICLE_CHARS)"
    )
    error = only_error(str(long), Limits(max_bytes=1024))
    assert error == f"{long}: the file is 2,800 bytes; the limit is 1,024"
    # The default character limit, as a user meets it.
    huge = tmp_path / "huge.txt"
    huge.write_text("Lorem ipsum dolor sit amet. " * 40_000, encoding="utf-8")
    assert "the limit is 1,000,000" in only_error(str(huge), Limits())


def test_good_file_beside_bad_ones_is_still_read(tmp_path):
    (tmp_path / "a.txt").write_text("Solar plant\n\n" + SOLAR_TEXT, encoding="utf-8")
    (tmp_path / "b.txt").write_bytes(b"")
    loads = list(load([str(tmp_path)], ALLOW))
    assert [(len(x.articles), x.error) for x in loads] == [
        (1, None),
        (0, f"{tmp_path / 'b.txt'}: the file is empty"),
    ]
    assert loads[0].articles[0].title == "Solar plant"


# ---- URLs ------------------------------------------------------------------------------


def test_pages_are_read_from_urls(site):
    base, _ = site
    (article,) = read_url(f"{base}/solar.html", ALLOW)
    assert "55 megawatts" in article.text and "tracking" not in article.text
    (moved,) = read_url(f"{base}/moved", ALLOW)  # a redirect, followed
    assert moved.title == "Solar plant" and moved.source == f"{base}/moved"


def test_url_errors_say_what_went_wrong(site):
    base, _ = site
    assert (
        only_error(f"{base}/missing.html") == f"{base}/missing.html: the server answered HTTP 404"
    )
    assert only_error(f"{base}/broken") == f"{base}/broken: the server answered HTTP 500"
    assert only_error(f"{base}/empty.html") == (
        f"{base}/empty.html: no article text found in this HTML page"
    )
    dead = f"http://127.0.0.1:{free_port()}/story.html"
    assert only_error(dead).startswith(f"{dead}: could not fetch it (ConnectError")
    assert only_error("http://no-such-host.invalid/a").startswith(
        "http://no-such-host.invalid/a: could not fetch it (no address for no-such-host.invalid"
    )


def test_pages_over_the_byte_limit_are_refused_whether_announced_or_not(site):
    base, _ = site
    small = Limits(max_bytes=5000, allow_private_urls=True)
    for path in ("/big.txt", "/big-chunked.txt"):
        assert (
            only_error(base + path, small) == f"{base}{path}: the page is over the 5,000-byte limit"
        )
    assert (
        len(read_url(f"{base}/big-chunked.txt", ALLOW)[0].text) == len("Solar power. " * 2000) - 1
    )


def test_too_many_redirects_are_refused(site):
    base, _ = site
    assert only_error(f"{base}/loop") == f"{base}/loop: too many redirects (more than 5)"


# ---- private addresses (SSRF) ------------------------------------------------------------


def test_a_page_on_this_machine_is_refused_by_default_and_read_when_allowed(site):
    base, _ = site
    port = base.rsplit(":", 1)[1]
    assert only_error(f"{base}/story.txt", Limits()) == (
        f"{base}/story.txt: refused: 127.0.0.1 is a loopback address; set "
        "ARTICLEBOT_ALLOW_PRIVATE_URLS=true to allow private addresses"
    )
    for host in ("localhost", "[::1]", "[::ffff:127.0.0.1]", "127.1", "2130706433"):
        error = only_error(f"http://{host}:{port}/story.txt", Limits())
        assert ": refused: " in error and "a loopback address; " + ALLOW_HINT in error, error
    assert read_url(f"{base}/story.txt", ALLOW)[0].title == "Solar plant"


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("10.1.2.3", "a private address"),
        ("172.16.0.1", "a private address"),
        ("192.168.1.1", "a private address"),
        ("169.254.169.254", "a link-local address"),  # cloud metadata
        ("0.0.0.0", "an unspecified address"),
        ("224.0.0.1", "a multicast address"),
        ("240.0.0.1", "a reserved address"),
        ("100.64.0.1", "a non-public address"),  # carrier-grade NAT
        ("::", "an unspecified address"),
        ("fe80::1", "a link-local address"),
        ("fd00::1", "a private address"),
        ("ff02::1", "a multicast address"),
        ("::ffff:10.0.0.1", "a private address"),
        ("2002:a9fe:a9fe::1", "a link-local address"),  # 6to4 around 169.254.169.254
        ("64:ff9b::c0a8:101", "a private address"),  # NAT64 around 192.168.1.1
        ("93.184.215.14", None),
        ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", None),
    ],
)
def test_addresses_the_internet_cannot_reach_are_named(address, kind):
    assert non_public(ipaddress.ip_address(address)) == kind


def test_private_url_is_refused_before_any_connection():
    for url, named in [
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("http://10.0.0.7:8080/admin", "10.0.0.7 is a private address"),
        ("https://[fd00::1]/", "fd00::1 is a private address"),
    ]:
        assert only_error(url, Limits()) == f"{url}: refused: {named}; {ALLOW_HINT}"


def test_a_name_with_any_private_address_is_refused():
    """Which of a name's addresses is used is up to whoever answers DNS: all must pass."""

    def dns(host, port):
        return ["93.184.215.14", "10.0.0.7"]

    with pytest.raises(FetchError) as refused:
        fetch("http://news.test/a", max_bytes=1000, timeout=5, resolver=dns)
    assert str(refused.value) == f"refused: news.test is 10.0.0.7, a private address; {ALLOW_HINT}"


def test_the_connection_goes_to_the_address_that_was_checked(site):
    """Pinned: the name is looked up once a hop, and the request goes to that address with the
    name in its Host header, so a second DNS answer (rebinding) is never asked for."""
    base, _ = site
    port = int(base.rsplit(":", 1)[1])
    lookups = []

    def dns(host, port):
        lookups.append(host)
        return ["127.0.0.1"]  # no real DNS knows articles.test

    Site.hosts.clear()
    fetched = fetch(
        f"http://articles.test:{port}/moved",
        max_bytes=10_000,
        timeout=5,
        allow_private=True,
        resolver=dns,
    )
    assert fetched.url == f"http://articles.test:{port}/story.txt"
    assert fetched.data.startswith(b"Solar plant")
    assert lookups == ["articles.test", "articles.test"]  # one a hop
    assert Site.hosts == [f"articles.test:{port}"] * 2


def test_a_redirect_to_a_private_address_is_refused(site):
    """The first server is let through (as a public one would be); its redirect to a private
    address is checked on its own and refused."""
    base, _ = site
    inner_port = int(base.rsplit(":", 1)[1])
    outer = serve({"/story": redirect(f"http://127.0.0.1:{inner_port}/story.txt")})
    outer_port = outer.server_address[1]
    try:

        def only_outer(address, port):
            return port == outer_port

        url = f"http://127.0.0.1:{outer_port}/story"
        with pytest.raises(FetchError) as refused:
            fetch(url, max_bytes=10_000, timeout=5, exempt=only_outer)
        assert str(refused.value) == (
            f"refused the redirect to http://127.0.0.1:{inner_port}/story.txt: "
            f"127.0.0.1 is a loopback address; {ALLOW_HINT}"
        )
        # Allowed, the same redirect is followed.
        assert read_url(url, ALLOW)[0].title == "Solar plant"
    finally:
        outer.shutdown()


def test_a_redirect_away_from_http_or_to_no_valid_url_is_refused(site):
    base, _ = site
    assert only_error(f"{base}/to-nowhere") == (
        f"{base}/to-nowhere: could not fetch it (RemoteProtocolError: Invalid URL in location "
        "header: Invalid IPv6 address: '[zz]'.)"
    )
    assert only_error(f"{base}/to-file") == (
        f"{base}/to-file: refused the redirect to file:/etc/passwd: only http and https URLs "
        "are fetched"
    )


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for articles.test (openssl), trusted through SSL_CERT_FILE."""
    if not shutil.which("openssl"):
        pytest.skip("needs the openssl command")
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=articles.test"]
        + ["-addext", "subjectAltName=DNS:articles.test"],
        check=True,
        capture_output=True,
    )
    return key, cert


def test_https_to_the_pinned_address_checks_the_certificate_for_the_name(certificate, monkeypatch):
    key, cert = certificate
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = serve(
        {"/story.txt": page(b"Solar plant\n\n" + SOLAR_TEXT.encode(), "text/plain")},
        wrap=lambda sock: context.wrap_socket(sock, server_side=True),
    )
    port = server.server_address[1]
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    try:

        def dns(host, port):
            return ["127.0.0.1"]

        fetched = fetch(
            f"https://articles.test:{port}/story.txt",
            max_bytes=10_000,
            timeout=5,
            allow_private=True,
            resolver=dns,
        )
        assert fetched.data.startswith(b"Solar plant")
        # The certificate is checked against the name, not the address connected to.
        with pytest.raises(FetchError) as wrong:
            fetch(
                f"https://other.test:{port}/story.txt",
                max_bytes=10_000,
                timeout=5,
                allow_private=True,
                resolver=dns,
            )
        assert "could not fetch it (ConnectError" in str(wrong.value)
        assert "other.test" in str(wrong.value)
    finally:
        server.shutdown()


# ---- JSONL -------------------------------------------------------------------------------


def test_jsonl_good_lines_are_added_and_each_bad_line_reported_in_full(tmp_path):
    lines = [
        json.dumps({"id": "n1", "title": "Rain in Lagos", "text": "Heavy rain flooded Lagos."}),
        '{"id": "n2", "title": "broken", "text": "no closing brace"',
        "",
        json.dumps({"id": "n3", "body": "a text under another name"}),
        json.dumps(["a", "list"]),
        json.dumps({"id": "n5", "text": "   "}),
        json.dumps({"id": "n6", "text": "x" * 1200}),
        json.dumps({"id": "n7", "title": "Sun in Cairo", "text": "The sun shone on Cairo."}),
    ]
    path = tmp_path / "feed.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    loads = list(load([str(path)], Limits(max_chars=1000)))
    assert [a.key for a in loads[0].articles] == ["n1", "n7"] and loads[0].error is None
    assert [x.error for x in loads[1:]] == [
        f"{path}: line 2: not JSON (Expecting ',' delimiter at the end)",
        f'{path}: line 4: no "text" string',
        f'{path}: line 5: not a JSON object with a "text" string (a list)',
        f'{path}: line 6: the "text" is empty',
        f"{path}: line 7: the text is 1,200 characters; the limit is 1,000 "
        "(ARTICLEBOT_MAX_ARTICLE_CHARS)",
    ]
    # An upload gets the same; read_bytes, all or nothing, names every bad line.
    uploaded = load_bytes(path.read_bytes(), ".jsonl", "telegram:feed.jsonl", "feed")
    assert len(uploaded[0].articles) == 3 and len(uploaded) == 5  # no character limit of 1,000
    with pytest.raises(ReadError) as refused:
        read_bytes(path.read_bytes(), ".jsonl", "feed.jsonl", "feed")
    assert str(refused.value).startswith("line 2: not JSON (Expecting ',' delimiter")
    assert str(refused.value).endswith('line 6: the "text" is empty')


def test_jsonl_with_only_bad_lines_adds_nothing(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text("nope\n[1]\n", encoding="utf-8")
    assert [(x.articles, x.error) for x in load([str(path)])] == [
        ([], f"{path}: line 1: not JSON (Expecting value at character 1)"),
        ([], f'{path}: line 2: not a JSON object with a "text" string (a list)'),
    ]


# ---- text hygiene ------------------------------------------------------------------------

HOSTILE = (
    "\x1b]0;pwned\x07\x1b[31mRed\x1b[0m alert\u200b: the plant\u202e reversed\u202c "
    "runs\x07 on \u2066sun\u2069\u200f.\x1b[2J\r\nSecond\x01 line\x9b6n\u00ad."
)


def test_clean_text_removes_escapes_overrides_and_invisible_characters():
    assert clean_text(HOSTILE) == "Red alert: the plant reversed runs on sun.\nSecond line."


@pytest.mark.parametrize(
    "text",
    [
        "می\u200cخواهم",  # Persian: ZWNJ between the parts of a verb
        "👩\u200d🔬 and 👨\u200d👩\u200d👧",  # emoji sequences joined with ZWJ
        "❤\ufe0f",  # a variation selector
        "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f flag",  # England
        "روسيا\tباكستان\nإسلام آباد",
    ],
)
def test_clean_text_keeps_what_normal_text_needs(text):
    assert clean_text(text) == text


def test_clean_text_removes_tag_characters_outside_a_flag():
    smuggled = "".join(chr(0xE0000 + ord(c)) for c in "ignore the articles")
    assert clean_text(f"Solar{smuggled} plant") == "Solar plant"


def test_articles_are_stored_clean_from_every_kind_of_input(tmp_path):
    (tmp_path / "story.md").write_text(f"# \x1b[1mSolar\u202e plant\n\n{HOSTILE}", "utf-8")
    (tmp_path / "page.html").write_text(
        f"<html><head><title>Sun\u200b\x1b[5m news</title></head><body><article>"
        f"<p>{HOSTILE}</p><p>{SOLAR_TEXT}</p></article></body></html>",
        "utf-8",
    )
    record = {
        "id": "a\u202eb",
        "title": "Rain\x1b[31m\nin Lagos",
        "text": HOSTILE,
        "date": "2026\u200b",
    }
    (tmp_path / "feed.jsonl").write_text(json.dumps(record), "utf-8")
    articles = [a for x in load([str(tmp_path)]) for a in x.articles]
    assert len(articles) == 3
    for article in articles:
        for value in (
            article.text,
            article.title,
            article.source,
            article.date or "",
            article.key or "",
        ):
            assert value == clean_text(value)
            assert not any(c in value for c in "\x1b\x07\x01\x9b\u202e\u202c\u2066\u200b\u200f\r")
        assert "Red alert: the plant reversed runs on sun." in article.text
    titles = sorted(a.title for a in articles)
    assert titles[0] == "Rain in Lagos" and titles[1] == "Solar plant"
    assert [a.key for a in articles if a.key] == ["ab"]
