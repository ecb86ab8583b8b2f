"""Adding articles from files, folders and URLs with the `articlebot` command; bad input is
reported and changes nothing. Each reader's errors are tested in-process in test_readers.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from .conftest import cli

SOLAR_TEXT = (
    "Kenya opens Africa's largest solar plant. The plant near Garissa produces 55 megawatts "
    "and was built in 18 months. Officials said it will power 70,000 homes."
)


def make_pdf(lines: list[str], title: str = "Solar plant") -> bytes:
    """A small real PDF with one page of Helvetica text."""
    text_ops = " ".join(f"({line}) Tj T*" for line in lines)
    content = f"BT /F1 12 Tf 14 TL 72 720 Td {text_ops} ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Title (%s) >>" % title.encode(),
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R >>\n" % (len(objects) + 1)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


HTML_PAGE = f"""<!doctype html><html><head><title>Solar power in Kenya</title>
<script>var tracking = "ignore me";</script><style>p {{ color: red }}</style></head>
<body><nav><a href="/">Home</a> | <a href="/news">News</a></nav>
<article><h1>Kenya opens Africa's largest solar plant</h1><p>{SOLAR_TEXT}</p>
<p>The project cost 136 million dollars and was financed by a Chinese bank loan.</p>
</article><footer>Copyright 2026 Example News</footer></body></html>"""


class Pages(BaseHTTPRequestHandler):
    routes: dict[str, tuple[str, bytes]] = {
        "/solar.html": ("text/html; charset=utf-8", HTML_PAGE.encode()),
        "/report.pdf": ("application/pdf", make_pdf(["Solar report.", SOLAR_TEXT[:80]])),
    }

    def do_GET(self):  # noqa: N802 (http.server's naming)
        if self.path not in self.routes:
            self.send_error(404)
            return
        content_type, body = self.routes[self.path]
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def listing(data_dir) -> list[dict]:
    result = cli("index", "list", "--json", data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def state(data_dir) -> dict:
    """What a user could observe of the index: its articles and stats."""
    from dataclasses import asdict

    from index.embeddings import load_embeddings
    from index.faiss_store import FaissStore

    store = FaissStore(data_dir, load_embeddings().identity)
    stats = store.stats()
    stats.pop("bytes_on_disk")
    articles = [asdict(a) for a in store.articles()]
    store.close()
    return {"articles": articles, "stats": stats}


def test_add_markdown_jsonl_and_folder_then_list_and_remove(tmp_path, data_dir):
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "solar.md").write_text("# Solar plant opens\n\n" + SOLAR_TEXT, encoding="utf-8")
    (folder / "photo.jpg").write_bytes(b"\xff\xd8\xff not an article")  # skipped: not a type
    records = [
        {
            "id": "n1",
            "title": "Rain in Lagos",
            "text": "Heavy rain flooded Lagos on Friday.",
            "source": "https://example.org/n1",
            "date": "2026-11-20",
        },
        {"id": "n2", "title": "مطر في القاهرة", "text": "هطلت أمطار غزيرة على القاهرة يوم السبت."},
    ]
    jsonl = folder / "feed.jsonl"
    jsonl.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records), "utf-8")
    result = cli("index", "add", str(folder), data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    assert "3 added" in result.stdout
    articles = {a["title"]: a for a in listing(data_dir)}
    assert articles["Solar plant opens"]["lang"] == "en"
    assert articles["مطر في القاهرة"]["lang"] == "ar"
    assert articles["Rain in Lagos"]["date"] == "2026-11-20"
    assert articles["Rain in Lagos"]["source"] == "https://example.org/n1"
    # The same folder again adds nothing.
    again = cli("index", "add", str(folder), data_dir=data_dir)
    assert "0 added" in again.stdout and "3 already indexed" in again.stdout
    removed = cli("index", "remove", articles["Rain in Lagos"]["id"], data_dir=data_dir)
    assert removed.returncode == 0 and "removed" in removed.stdout
    assert "Rain in Lagos" not in {a["title"] for a in listing(data_dir)}
    asked = cli("ask", "How many homes will the solar plant power?", "--json", data_dir=data_dir)
    assert "70,000 homes" in json.loads(asked.stdout)["citations"][0]["quote"]


def test_add_html_and_pdf_from_urls(site, data_dir):
    result = cli(
        "index",
        "add",
        f"{site}/solar.html",
        f"{site}/report.pdf",
        data_dir=data_dir,
        env={"ARTICLEBOT_ALLOW_PRIVATE_URLS": "true"},  # the test site is on 127.0.0.1
    )
    assert result.returncode == 0, result.stderr
    articles = {a["source"]: a for a in listing(data_dir)}
    html = articles[f"{site}/solar.html"]
    assert html["title"] == "Solar power in Kenya" or "solar plant" in html["title"].lower()
    assert articles[f"{site}/report.pdf"]["title"] == "Solar plant"
    asked = cli("ask", "How much did the solar project cost?", "--json", data_dir=data_dir)
    answer = json.loads(asked.stdout)
    assert "136 million dollars" in answer["citations"][0]["quote"]
    # Main text only: no script, style, navigation or footer.
    passages = " ".join(hit["text"] for hit in answer["retrieved"])
    assert "tracking" not in passages and "color: red" not in passages


def test_a_mix_of_good_and_bad_inputs_is_reported_one_line_each(site, tmp_path, data_dir):
    """What each input is told is tested in-process (tests/test_readers.py); here, the
    command's report and exit status, and that only the good inputs reach the index."""
    good = tmp_path / "good.txt"
    good.write_text("Solar plant\n\n" + SOLAR_TEXT, encoding="utf-8")
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "script.html").write_bytes(b"<html><body><script>var a=1;</script></body></html>")
    feed = tmp_path / "feed.jsonl"
    feed.write_text(
        json.dumps({"id": "r1", "title": "Rain in Lagos", "text": "Heavy rain flooded Lagos."})
        + '\n{"id": "r2", "text": "cut short"\n'
        + json.dumps({"id": "r3", "title": "no text"}),
        encoding="utf-8",
    )
    before = state(data_dir)
    result = cli(
        "index",
        "add",
        str(good),
        str(tmp_path / "empty.txt"),
        str(tmp_path / "script.html"),
        str(feed),
        str(tmp_path / "nope.txt"),
        f"{site}/missing.html",
        data_dir=data_dir,
        env={"ARTICLEBOT_ALLOW_PRIVATE_URLS": "true"},
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error   {tmp_path / 'empty.txt'}: the file is empty",
        f"error   {tmp_path / 'script.html'}: no article text found in this HTML page",
        f"error   {feed}: line 2: not JSON (Expecting ',' delimiter at the end)",
        f'error   {feed}: line 3: no "text" string',
        f"error   {tmp_path / 'nope.txt'}: no such file",
        f"error   {site}/missing.html: the server answered HTTP 404",
    ]  # nothing else: no "discarding data" from trafilatura, no progress bar when piped
    assert "2 added" in result.stdout and "6 failed" in result.stdout
    titles = sorted(a["title"] for a in listing(data_dir))
    assert titles == sorted(
        [a["title"] for a in before["articles"]] + ["Solar plant", "Rain in Lagos"]
    )


def test_urls_on_this_machine_are_refused_unless_allowed(site, data_dir):
    before = state(data_dir)
    result = cli("index", "add", f"{site}/solar.html", data_dir=data_dir)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error   {site}/solar.html: refused: 127.0.0.1 is a loopback address; "
        "set ARTICLEBOT_ALLOW_PRIVATE_URLS=true to allow private addresses"
    )
    assert state(data_dir) == before


HOSTILE_ARTICLE = (
    "# \x1b]0;owned\x07Bridge\u202e repairs\u202c \x1b[31mdone\x1b[0m\n\n"
    "The\u200b bridge over the river\u200b was closed for \x1b[2Jrepairs that took "
    "\u2066eleven weeks\u2069, the city said.\x1b[8m Traffic returned on Monday."
)
TERMINAL_CONTROLS = "\x1b\x07\u202e\u202c\u2066\u2069\u200b"


def test_escape_sequences_and_invisible_characters_never_reach_the_index_or_the_terminal(
    tmp_path, data_dir
):
    article = tmp_path / "bridge.md"
    article.write_text(HOSTILE_ARTICLE, encoding="utf-8")
    added = cli("index", "add", str(article), data_dir=data_dir)
    assert added.returncode == 0, added.stderr
    stored = next(a for a in listing(data_dir) if a["source"] == str(article))
    assert stored["title"] == "Bridge repairs done"
    assert not any(c in stored["title"] + stored["source"] for c in TERMINAL_CONTROLS)
    listed = cli("index", "list", data_dir=data_dir, env={"ARTICLEBOT_BIDI": "off"})
    assert "Bridge repairs done" in listed.stdout
    assert not any(c in listed.stdout for c in TERMINAL_CONTROLS)
    asked = cli("ask", "How long did the bridge repairs take?", data_dir=data_dir)
    assert "bridge over the river was closed for repairs that took eleven weeks" in asked.stdout
    assert "Bridge repairs done" in asked.stdout  # the source's title
    assert not any(c in asked.stdout for c in TERMINAL_CONTROLS)


def test_output_into_a_closed_pipe_ends_quietly(data_dir):
    """`articlebot index list | head -0`: no BrokenPipeError traceback."""
    full_env = {**os.environ, "ARTICLEBOT_DATA_DIR": str(data_dir)}
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "index", "list"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=full_env,
        cwd=data_dir.parent,
    )
    process.stdout.close()  # the reader is gone before anything is written
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == 141
    assert stderr == ""
