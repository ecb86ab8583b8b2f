"""The REPL, driven as a user would: lines on its standard input."""

from __future__ import annotations

import re
from datetime import date

from .conftest import cli, data_dir_with
from .scripted_llm import ScriptedServer

SESSION = """what did Russia promise on vaccines?
/sources
/articles
/articles 2
/reset
/sources
/bogus
/quit
what is never asked because the session ended?
"""


def test_repl_answers_shows_sources_lists_articles_and_resets(data_dir):
    result = cli("repl", data_dir=data_dir, stdin=SESSION, env={"ARTICLEBOT_BIDI": "off"})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    answer, _, rest = out.partition("Sources:")
    assert "[1] “فيما يتعلق بلقاحات فيروس كورونا" in answer and "Sputnik V" in answer
    # /sources shows the whole passage behind citation 1, more than the quote, once for
    # all the citations that quote it (the first two, at least, quote the vaccines' passage).
    sources = rest.split("\n\n", 1)[1].split("\nConversation cleared.")[0]
    assert re.match(r"\[1\]\[2\](\[3\])? أفغانستان تتصدر", sources)
    assert sources.count("ستوفر 150.000 جرعة أخرى") == 1
    passage = sources.split("\n", 1)[1].split("\nd9e8e8c0")[0]
    assert "ستوفر 150.000 جرعة أخرى" in passage and len(passage) > 300
    # /articles: the sample has no date of its own, so the day it was added, said so.
    assert re.search(r"\nd9e8e8c0  added \d{4}-\d{2}-\d{2} +\[ar\] أفغانستان تتصدر", out)
    assert "\nThere is only one page of articles: /articles shows it.\n" in out
    assert "Conversation cleared." in out
    assert out.count("Ask a question first") == 1  # /sources after /reset
    assert "Unknown command /bogus" in out
    assert "never asked" not in out and out.count("Here is what the articles say:") == 1


WINDOW_SESSION = """/since
/since 2026-13-01
/since 2000-01-01
/until 1999-12-31
/until 2000-12-31
what did Russia promise on vaccines?
/until off
what did Russia promise on vaccines?
/since off
"""


def test_since_and_until_keep_the_questions_to_articles_of_those_days(data_dir):
    result = cli("repl", data_dir=data_dir, stdin=WINDOW_SESSION, env={"ARTICLEBOT_BIDI": "off"})
    assert result.returncode == 0, result.stderr
    replies = result.stdout.strip().split("\n\n")

    assert replies[0].startswith("I search every article, whatever its date.")
    assert replies[1] == (
        "Usage: /since YYYY-MM-DD, or /since off ('2026-13-01' is not a date: write it as "
        "YYYY-MM-DD, e.g. 2026-11-01)"
    )
    assert replies[2].startswith(
        "From now on I search only the articles dated 2000-01-01 or later."
    )
    assert "ends (1999-12-31) before it starts (2000-01-01)" in replies[3]
    assert replies[4].startswith(
        "From now on I search only the articles dated 2000-01-01 to 2000-12-31."
    )
    # The sample, added today, is outside the window: the answer says where it searched.
    assert replies[5] == "(I searched only the articles dated 2000-01-01 to 2000-12-31.)"
    assert replies[6] == "The articles do not seem to answer this question."
    assert replies[7].startswith("From now on I search only the articles dated 2000-01-01 or later")
    assert replies[8] == "(I searched only the articles dated 2000-01-01 or later.)"
    assert "Sputnik V" in result.stdout.split(replies[8])[1]
    assert replies[-1] == "I search every article again, whatever its date."


def test_repl_add_indexes_a_file_and_answers_from_it(tmp_path, data_dir):
    article = tmp_path / "bridge.txt"
    article.write_text(
        "Bridge reopens in Mostar\n\nThe old bridge in Mostar reopened on Sunday after "
        "repairs that cost 3 million euros and took fourteen months.",
        encoding="utf-8",
    )
    lines = f"/add {article}\nHow long did the bridge repairs take?\n/add {tmp_path}/missing.txt\n"
    result = cli("repl", data_dir=data_dir, stdin=lines, env={"ARTICLEBOT_BIDI": "off"})
    assert "added " in result.stdout and "Bridge reopens in Mostar" in result.stdout
    assert "took fourteen months" in result.stdout
    assert "error: " in result.stdout and "missing.txt: no such file" in result.stdout

    # The next session finds the article indexed, and removes it.
    article_id = result.stdout.split("added ", 1)[1].split()[0]
    lines = f"/articles\n/remove {article_id}\n/articles\n/remove {article_id}\n"
    out = cli("repl", data_dir=data_dir, stdin=lines, env={"ARTICLEBOT_BIDI": "off"}).stdout
    listed, removed, after, again = out.strip().split("\n\n")
    (line,) = [line for line in listed.splitlines() if line.startswith(article_id)]
    assert line.split()[1:5] == ["added", date.today().isoformat(), "[en]", "Bridge"]
    assert removed == f"removed {article_id} Bridge reopens in Mostar; 1 article left"
    assert "Mostar" not in after and after.startswith("d9e8e8c0  added ")
    assert again == f"There is no article with id {article_id}."


def test_arabic_is_printed_in_visual_order_when_bidi_is_on(sample_dir):
    title_word = "أفغانستان"
    on = cli(
        "ask",
        "what did Russia promise on vaccines?",
        data_dir=sample_dir,
        env={"ARTICLEBOT_BIDI": "on"},
    )
    off = cli(
        "ask",
        "what did Russia promise on vaccines?",
        data_dir=sample_dir,
        env={"ARTICLEBOT_BIDI": "off"},
    )
    assert title_word in off.stdout and title_word[::-1] not in off.stdout
    assert title_word[::-1] in on.stdout
    # Text that is all left-to-right is left alone.
    assert "Here is what the articles say:" in on.stdout


def test_hebrew_is_printed_in_visual_order_too(tmp_path):
    tram = (
        "ריברטון מאשרת קו חשמלית\n\nמועצת העיר ריברטון אישרה ביום שני קו חשמלית חדש. הקו יעלה "
        "240 מיליון יורו ואמור להיפתח בשנת 2028. המתנגדים אומרים שהעיר אינה יכולה לעמוד בעלות.\n"
    )
    data = data_dir_with(tmp_path, "tram.he.txt", tram)
    on = cli("ask", "כמה יעלה קו החשמלית?", data_dir=data, env={"ARTICLEBOT_BIDI": "on"})
    off = cli("ask", "כמה יעלה קו החשמלית?", data_dir=data, env={"ARTICLEBOT_BIDI": "off"})
    word = "חשמלית"
    assert word in off.stdout and word[::-1] not in off.stdout
    assert word[::-1] in on.stdout and "240" in on.stdout


def test_a_models_escape_sequences_never_reach_the_terminal_even_split_between_pieces(data_dir):
    # The scripted server streams word by word: the window-title sequence arrives in two
    # pieces, "\x1b]0;pwned " and "title\x07 ".
    reply = (
        "Russia will sell \x1b]0;pwned title\x07 50,000 doses \x1b[2J\x1b[31mof Sputnik V "
        "to \u202eHACKED Pakistan [1]."
    )
    server = ScriptedServer(replies=[reply]).start()
    try:
        env = {
            "ARTICLEBOT_BIDI": "off",
            "LLM_BACKEND": "openai",
            "LLM_BASE_URL": server.url,
            "LLM_MODEL": "scripted",
            "LLM_MAX_RETRIES": "0",
        }
        question = "How many doses of the Sputnik V vaccine did Russia sell to Pakistan?"
        result = cli("repl", data_dir=data_dir, stdin=question + "\n", env=env)
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr
    assert server.requests, "the model was not asked"
    out = result.stdout
    assert "Russia will sell  50,000 doses of Sputnik V to HACKED Pakistan" in out
    assert "pwned" not in out and "title" not in out
    assert not [c for c in out if c in "\x1b\x07\x9b\u202e"]
