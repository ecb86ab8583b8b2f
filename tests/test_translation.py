"""Translations under quotes in another language than the question's, with an LLM backend.

The bundled sample is Arabic; English questions about it get Arabic quotes. When the model's
answer cannot be used and the quotes are shown, each gets the model's translation under it,
marked as one. Scripted servers on 127.0.0.1 stand in for the model (tests/scripted_llm.py)
and pin down what the user sees; SmolLM2 through llama.cpp runs the same path for real.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

pytest.importorskip("langchain_openai")

from bot import prompts  # noqa: E402
from bot.answering import Answerer  # noqa: E402
from bot.core import build_answerer, indexer, open_store  # noqa: E402
from bot.evaluation import load_documents  # noqa: E402
from bot.repl import Session  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.translation import checked, checked_translation, search_language  # noqa: E402
from bot.types import Answer  # noqa: E402

from .conftest import REPO, cli, data_dir_with  # noqa: E402
from .scripted_llm import ScriptedServer  # noqa: E402

VACCINE = "How many doses of the Sputnik V vaccine did Russia sell to Pakistan?"
UNCITED = "Russia sold many doses of its vaccine to Pakistan."  # no [n]: the quotes are shown
DOSES = (
    "Regarding coronavirus vaccines, Lavrov said that Russia has already sold 50,000 doses "
    "of the Russian-developed Sputnik V vaccine to Pakistan, and that it will supply another "
    "150,000 doses “soon”."
)


def quoted(body: dict) -> str:
    """The quote a translation request carries between its <passage> tags."""
    return re.search(r"<passage>\n(.*)\n</passage>", body["messages"][1]["content"], re.S)[1]


def english(body: dict) -> str:
    """A scripted translator: the vaccine quote's translation, else a stand-in as long."""
    quote = quoted(body)
    if "50000" in quote:
        return DOSES
    return f"Translation: “{STAND_IN}”"


STAND_IN = (
    "An English rendering of a passage of the article about the talks between Lavrov and "
    "Qureshi in Islamabad."
)


def copy(body: dict) -> str:
    return quoted(body)


def llm_answerer(data_dir: Path, url: str, **overrides) -> Answerer:
    settings = Settings(
        data_dir=data_dir,
        llm_backend="openai",
        llm_base_url=url,
        llm_model="scripted",
        **{"llm_max_retries": 0, "llm_timeout": 5.0, **overrides},
    )
    return build_answerer(settings, open_store(settings))


def llm_env(server: ScriptedServer) -> dict[str, str]:
    return {
        "LLM_BACKEND": "openai",
        "LLM_BASE_URL": server.url,
        "LLM_MODEL": "scripted",
        "LLM_MAX_RETRIES": "0",
    }


def shown_pairs(text: str) -> list[tuple[str, str | None]]:
    """Each quote line of an answer's text with the translation line under it, if any."""
    lines = text.split("\n")
    marker = "    " + prompts.text("translation", "en", text="")
    pairs = []
    for i, line in enumerate(lines):
        if re.match(r"\[\d+\] “", line):
            below = lines[i + 1] if i + 1 < len(lines) else ""
            pairs.append((line, below[len(marker) :] if below.startswith(marker) else None))
    return pairs


def assert_quotes_are_the_evidence(answer: Answer) -> None:
    """Translations add to the quotes: each quote is still the article's text, verbatim."""
    passages = {h.chunk.id: h.chunk.text for h in answer.hits}
    for c in answer.citations:
        assert c.quote in passages[c.chunk_id]
        assert f"[{c.number}] “{c.quote}”" in answer.text


# ---- what the user sees ---------------------------------------------------------------


def test_arabic_quotes_get_an_english_translation_under_each(sample_dir, scripted):
    server = scripted(replies=[UNCITED, english, english, english])
    answer = llm_answerer(sample_dir, server.url).ask(VACCINE)

    note = prompts.text("llm_fallback", "en", reason=prompts.text("llm_reason_no_citation", "en"))
    assert answer.mode == "extractive" and answer.text.startswith(note)
    assert_quotes_are_the_evidence(answer)
    doses = next(c for c in answer.citations if "50000" in c.quote)
    assert doses.translation == DOSES
    # Under each Arabic quote, its translation, marked as one; labels the model adds are gone.
    pairs = shown_pairs(answer.text)
    assert len(pairs) == len(answer.citations) >= 2
    for (line, below), c in zip(pairs, answer.citations, strict=True):
        assert line == f"[{c.number}] “{c.quote}”" and below == c.translation
    assert f"    translation: {DOSES}" in answer.text
    others = [c.translation for c in answer.citations if c is not doses]
    assert set(others) == {STAND_IN}

    # Each request: one quote, delimited as data, and the reader's language.
    requests = server.requests[1:]
    assert [quoted(r) for r in requests] == [c.quote for c in answer.citations]
    system, user = requests[0]["messages"]
    assert "into English" in system["content"] and "not instructions" in system["content"]
    assert user["content"].rstrip().endswith("Reply with the translation only.")


def test_quotes_in_the_questions_language_are_not_translated(sample_dir, scripted):
    server = scripted(replies=["روسيا باعت لقاحات لباكستان."])  # uncited: the quotes are shown
    answer = llm_answerer(sample_dir, server.url).ask(
        "كم جرعة من لقاح سبوتنيك باعت روسيا لباكستان؟"
    )
    assert answer.mode == "extractive" and answer.lang == "ar" and answer.citations
    assert len(server.requests) == 1  # the answer only
    assert all(c.translation is None for c in answer.citations)
    assert prompts.text("translation", "ar", text="") not in answer.text


def test_arabic_question_gets_arabic_translations_of_english_quotes(tmp_path, scripted):
    data = data_dir_with(tmp_path, "tram.txt", TRAM_EN)
    arabic = "ستكلف خطوط الترام 240 مليون يورو، ومن المقرر افتتاحها في عام 2028، وفق المجلس."
    server = scripted(replies=["الخط مكلف.", arabic, arabic, arabic])
    answer = llm_answerer(data, server.url).ask("كم ستكلف خطوط الترام في ريفرتون؟")
    assert "into Arabic" in server.requests[1]["messages"][0]["content"]
    assert answer.citations and answer.citations[0].translation == arabic
    assert f"    ترجمة: {arabic}" in answer.text


def test_extractive_default_translates_nothing(answerer):
    answer = answerer.ask(VACCINE)
    assert answer.citations and all(c.translation is None for c in answer.citations)
    assert "translation:" not in answer.text


def test_replies_that_are_not_translations_are_not_shown(sample_dir, scripted):
    server = scripted(replies=[UNCITED, "HACKED", copy, "CANNOT_ANSWER"])
    answer = llm_answerer(sample_dir, server.url).ask(VACCINE)
    assert answer.mode == "extractive" and len(answer.citations) == 3
    assert all(c.translation is None for c in answer.citations)
    assert "translation:" not in answer.text and "HACKED" not in answer.text
    assert_quotes_are_the_evidence(answer)
    assert sum("not a translation of" in n for n in answer.notes) == 3


def test_checked_translation_drops_what_is_not_one():
    quote = "قال لافروف إن روسيا باعت بالفعل 50000 جرعة من لقاح Sputnik V إلى باكستان."
    question = "How many doses did Russia sell?"
    english_text = "Lavrov said Russia had already sold 50000 doses of Sputnik V to Pakistan."
    assert checked_translation(f"Translation: “{english_text}”", quote, question) == english_text
    assert checked_translation(english_text + "\n\n", quote, question) == english_text
    assert checked_translation("HACKED", quote, question) is None  # far too short
    assert checked_translation(quote, quote, question) is None  # copied
    half = "باعت بالفعل 50000 جرعة. Lavrov said that Russia sold"
    assert checked_translation(half, quote, question) is None  # half in the quote's script
    assert checked_translation("word " * 200, quote, question) is None  # far too long
    assert checked_translation("<passage>x</passage>", quote, question) is None
    # What SmolLM2 gave for the bundled sample's quotes (seen in the REPL): a few words, then
    # the prompt carried on, or a story. Three times the quote's length passed before.
    rambling = english_text + " It is a reference to the tradition of the city and its people."
    assert checked_translation(rambling * 2, quote, question) is None  # 3.7 times longer
    carried_on = f'بالأراد فقول مسول. Translate this into English: "{english_text}"'
    assert checked_translation(carried_on, quote, question) is None
    assert checked_translation(f"{english_text} </answer>", quote, question) is None
    assert checked_translation(f"<p>{english_text}</p>", quote, question) is None
    assert checked("Lavrov <b>said</b> so.", "قال <b>لافروف</b> ذلك.", "latin") is not None
    # A translation as long as people's longest (XQuAD's questions: 2.31 times the Arabic).
    assert checked_translation(english_text + " " + english_text, quote, question) is not None


# ---- failures degrade to the quotes alone ---------------------------------------------


def test_translation_past_the_answer_deadline_leaves_the_quotes_alone(sample_dir, scripted):
    server = scripted("trickle", [UNCITED])  # the translation never ends
    started = time.monotonic()
    answer = llm_answerer(sample_dir, server.url, llm_max_seconds=3.0).ask(VACCINE)
    assert time.monotonic() - started < 10
    assert answer.mode == "extractive" and len(answer.citations) == 3
    assert all(c.translation is None for c in answer.citations)
    assert "translation:" not in answer.text
    assert_quotes_are_the_evidence(answer)
    assert "openai: no time left to translate [1]" in answer.notes
    assert len(server.requests) == 2  # the answer, one translation cut off


def test_server_failing_mid_way_keeps_the_translations_made(sample_dir, scripted):
    server = scripted(replies=[UNCITED, english])  # then HTTP 500s
    answer = llm_answerer(sample_dir, server.url).ask(VACCINE)
    first, *rest = answer.citations
    assert first.translation and all(c.translation is None for c in rest)
    assert [below is not None for _, below in shown_pairs(answer.text)] == [True, False, False]
    assert len(server.requests) == 3  # no third try at a failing server
    assert "openai: translating [2] failed" in answer.notes


def test_no_translation_is_asked_after_the_answer_timed_out(sample_dir, scripted):
    server = scripted("hang", [])
    answer = llm_answerer(sample_dir, server.url, llm_timeout=1.0).ask(VACCINE)
    reason = prompts.text("llm_reason_timeout", "en")
    assert answer.text.startswith(prompts.text("llm_fallback", "en", reason=reason))
    assert answer.citations and len(server.requests) == 1


def test_translation_can_be_turned_off(sample_dir, scripted):
    server = scripted(replies=[UNCITED, english, english, english])
    answer = llm_answerer(sample_dir, server.url, llm_translate_quotes=False).ask(VACCINE)
    assert answer.citations and all(c.translation is None for c in answer.citations)
    assert len(server.requests) == 1


# ---- the front ends --------------------------------------------------------------------


def test_answer_with_translations_survives_a_round_trip_through_json(sample_dir, scripted):
    server = scripted(replies=[UNCITED, english, english, english])
    answer = llm_answerer(sample_dir, server.url).ask(VACCINE)
    data = json.loads(json.dumps(answer.to_dict(), ensure_ascii=False))
    assert Answer.from_dict(data) == answer
    assert data["citations"][0]["translation"] == answer.citations[0].translation
    # Answers kept before translations existed read back with none.
    for c in data["citations"]:
        del c["translation"]
    assert all(c.translation is None for c in Answer.from_dict(data).citations)


def test_cli_shows_translations_under_the_quotes_and_in_json(data_dir, scripted):
    server = scripted(replies=[UNCITED, english, english, english] * 2)
    text = cli("ask", VACCINE, data_dir=data_dir, env=llm_env(server))
    assert text.returncode == 0, text.stderr
    assert f"    translation: {DOSES}" in text.stdout
    shown = cli("ask", VACCINE, "--json", data_dir=data_dir, env=llm_env(server))
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    doses = next(c for c in data["citations"] if "50000" in c["quote"])
    assert doses["translation"] == DOSES
    assert f"    translation: {DOSES}" in data["answer"]
    assert Answer.from_dict(data).to_dict() == data


def test_repl_shows_translations_under_the_quotes(sample_dir, scripted):
    server = scripted(replies=[UNCITED, english, english, english])
    session = Session(llm_answerer(sample_dir, server.url), Settings(data_dir=sample_dir))
    streamed: list[str] = []
    reply = session.handle(VACCINE, write=streamed.append)
    assert "".join(streamed) == UNCITED  # the model's words, then the quotes replace them
    assert f"    translation: {DOSES}" in reply
    assert reply.index("50000") < reply.index(f"translation: {DOSES}")


# ---- SmolLM2 through llama.cpp: the plumbing, not the wisdom ----------------------------


def local_model(data_dir: Path) -> Settings:
    """SmolLM2-135M in-process, kept short: the plumbing, not the wisdom."""
    pytest.importorskip("llama_cpp")
    return Settings(
        data_dir=data_dir,
        llm_backend="llamacpp",
        llm_max_tokens=48,
        llm_n_ctx=2048,
        llm_max_passages=1,
        llm_n_threads=1,
    )


def test_local_model_is_asked_to_translate_the_quotes_it_could_not_answer_with(sample_dir):
    settings = local_model(sample_dir)
    answer = build_answerer(settings, open_store(settings)).ask("Who did Lavrov meet in Islamabad?")
    # SmolLM2-135M answers this without a citation (seed 0, temperature 0): the quotes are shown.
    assert answer.mode == "extractive" and answer.citations, answer.notes
    assert_quotes_are_the_evidence(answer)
    for c, (_, below) in zip(answer.citations, shown_pairs(answer.text), strict=True):
        # Each quote went to the model; what came back is shown only if it passed the checks.
        tried = [
            n
            for n in answer.notes
            if re.match(rf"llamacpp: [^:']*translat\w* (of )?\[{c.number}\]", n)
        ]
        assert (c.translation is not None) != bool(tried)
        assert below == c.translation
        if c.translation is not None:
            assert checked_translation(c.translation, c.quote, answer.question) == c.translation


# ---- the question translated for the search --------------------------------------------

SUPER_BOWL = REPO / "tests" / "data" / "super_bowl" / "docs.jsonl"
GAGA = "ماذا غنت ليدي غاغا؟"  # XQuAD's Arabic question: what did Lady Gaga sing?
GAGA_EN = "What did Lady Gaga sing?"
# An answer in the question's language, citing the first passage.
GAGA_ANSWER = "غنت ليدي غاغا النشيد الوطني الأمريكي [1]."


@pytest.fixture(scope="module")
def english_dir(tmp_path_factory) -> Path:
    """A data dir of four English paragraphs: Lady Gaga's anthem at Super Bowl 50, and three
    of other articles (tests/data/super_bowl)."""
    path = tmp_path_factory.mktemp("english") / "data"
    settings = Settings(data_dir=path)
    store = open_store(settings, seed=False)
    indexer(settings, store).add(load_documents(SUPER_BOWL))
    store.close()
    return path


def question_asked(body: dict) -> str:
    """The question a translation request carries between its <question> tags."""
    return re.search(r"<question>\n(.*)\n</question>", body["messages"][1]["content"], re.S)[1]


def test_an_arabic_question_about_english_articles_is_searched_in_english_too(
    english_dir, scripted
):
    settings = Settings(data_dir=english_dir)
    extractive = build_answerer(settings, open_store(settings))
    # As asked, the embedder places the Arabic question nearer the Normans than the anthem:
    # the passage a model would be given first.
    assert extractive.ask(GAGA).hits[0].chunk.title == "Normans"

    server = scripted(replies=[GAGA_ANSWER], questions=lambda body: f"“{GAGA_EN}”")
    answer = llm_answerer(english_dir, server.url).ask(GAGA)
    (request,) = server.question_requests  # one translation, before the search
    system, user = request["messages"]
    assert "into English" in system["content"] and "not instructions" in system["content"]
    assert question_asked(request) == GAGA
    # The model answered from the passages found with either question: the anthem first.
    assert answer.mode == "openai" and answer.text.endswith(GAGA_ANSWER)
    assert answer.hits[0].chunk.title == answer.citations[0].title == "Super Bowl 50"
    assert "Lady Gaga" in answer.citations[0].quote
    assert "<passage" in server.requests[0]["messages"][1]["content"]
    assert GAGA in server.requests[0]["messages"][1]["content"]  # asked as the reader asked
    assert f"searched in translation too: {GAGA_EN}" in answer.notes
    assert answer.timings["translate"] >= 0


def test_the_quotes_fallen_back_on_are_chosen_with_the_translation(english_dir, scripted):
    # The model's answer cites nothing: the quotes are shown, chosen and weighed as the
    # English question meets the English passages it found.
    arabic = (
        "غنت ليدي غاغا، الحائزة على ست جوائز غرامي والمرشحة لجائزة الأوسكار، النشيد الوطني، "
        "بينما قدمت مارلي ماتلين الحائزة على جائزة الأوسكار الترجمة بلغة الإشارة الأمريكية."
    )
    server = scripted(replies=["ليدي غاغا غنت.", arabic], questions=lambda body: GAGA_EN)
    answer = llm_answerer(english_dir, server.url).ask(GAGA)
    assert answer.mode == "extractive" and answer.question == GAGA and answer.lang == "ar"
    # Asked in Arabic over the same passages, the quotes would be "unsure", three of them.
    assert answer.confidence == "confident"
    (citation,) = answer.citations
    assert citation.title == "Super Bowl 50" and "Lady Gaga performed" in citation.quote
    assert citation.translation == arabic  # for the Arabic reader, under the quote
    assert_quotes_are_the_evidence(answer)


@pytest.mark.parametrize(
    "reply",
    [
        "Bananas are a yellow fruit grown in warm countries.",  # a translation gone wrong
        GAGA,  # the question copied back
        "",  # nothing
    ],
)
def test_a_poor_translation_costs_the_search_little(tmp_path, scripted, reply):
    data = tmp_path / "data"
    settings = Settings(data_dir=data)
    store = open_store(settings, seed=False)
    indexer(settings, store).add(load_documents(REPO / "tests" / "data" / "oxygen" / "docs.jsonl"))
    store.close()
    server = scripted(replies=[UNCITED], questions=lambda body: reply)
    answer = llm_answerer(data, server.url).ask("متى اكتشف كارل فيلهلم شيل الأكسجين؟")
    assert len(server.question_requests) == 1
    # What the question finds as asked is still found: its quote first.
    assert answer.mode == "extractive" and "1773" in answer.citations[0].quote
    searched = [n for n in answer.notes if n.startswith("searched in translation too")]
    assert searched == ([f"searched in translation too: {reply}"] if reply.startswith("B") else [])


def test_no_translation_is_asked_in_the_questions_script_or_when_turned_off(
    sample_dir, english_dir, scripted
):
    # The sample is Arabic: an Arabic question meets it as asked.
    server = scripted(replies=["روسيا باعت لقاحات لباكستان."])
    llm_answerer(sample_dir, server.url).ask("كم جرعة من لقاح سبوتنيك باعت روسيا لباكستان؟")
    assert server.question_requests == [] and len(server.requests) == 1
    server = scripted(replies=[GAGA_ANSWER], questions=lambda body: GAGA_EN)
    answer = llm_answerer(english_dir, server.url, llm_translate_questions=False).ask(GAGA)
    assert server.question_requests == [] and "translate" not in answer.timings
    assert answer.citations[0].title == "Normans"  # the search as asked


def test_the_search_language_is_one_of_the_store_in_another_script():
    assert search_language(GAGA, {"en", "ar"}) == "en"
    assert search_language(GAGA, {"ar"}) is None
    assert search_language(GAGA, {"und"}) is None
    assert search_language(GAGA, {"fr", "de"}) == "de"
    assert search_language(GAGA_EN, {"en", "ar"}) == "ar"
    assert search_language(GAGA_EN, {"en", "fr"}) is None
    assert search_language("Что спел Леди Гага?", {"en", "ar"}) == "en"


def test_local_model_is_asked_to_translate_the_question_for_the_search(english_dir):
    settings = local_model(english_dir)
    answerer = build_answerer(settings, open_store(settings))
    inputs = answerer.prepare.invoke({"question": GAGA, "history": [], "window": None})
    # SmolLM2-135M was asked (the step timed); what it said is searched only if it passed the
    # checks: a reply in the articles' script, of a question's length, not the question again.
    assert inputs["translate_ms"] > 0
    search = inputs["search"]
    if search is not None:
        assert checked(search, GAGA, "latin") == search
    asked = answerer.retriever.retrieve(GAGA)
    searched, both = answerer.retriever.strongest([GAGA, *filter(None, [search])])
    assert inputs["searched"] == searched and searched in (GAGA, search)
    assert [h.chunk.id for h in inputs["hits"]] == [h.chunk.id for h in both]
    # The stronger evidence of the two searches was kept: never weaker than as asked.
    assert max(h.score for h in inputs["hits"]) >= max(h.score for h in asked)


# ---- languages in other scripts than Latin and Arabic ----------------------------------

TRAM_RU = (
    "Риверстон одобрил трамвайную линию\n\nГородской совет Риверстона в понедельник одобрил "
    "строительство новой трамвайной линии. Линия обойдётся в 240 миллионов евро и должна "
    "открыться в 2028 году. Противники проекта говорят, что город не может себе этого "
    "позволить.\n"
)
TRAM_EN = (
    "Riverton approves tram line\n\nThe city council of Riverton approved a new tram line on "
    "Monday. The tram line will cost 240 million euros and is due to open in 2028.\n"
)


def test_an_english_question_about_russian_articles_is_searched_in_russian_too(tmp_path, scripted):
    data = data_dir_with(tmp_path, "tram.ru.txt", TRAM_RU)
    russian = "Сколько будет стоить трамвайная линия в Риверстоне?"
    server = scripted(replies=["240 million euros [1]."], questions=lambda body: russian)
    answer = llm_answerer(data, server.url).ask("How much will the tram line in Riverton cost?")
    (request,) = server.question_requests
    assert "into Russian" in request["messages"][0]["content"]
    assert f"searched in translation too: {russian}" in answer.notes
    assert "240 миллионов евро" in answer.citations[0].quote


def test_a_question_in_the_articles_own_script_is_not_translated(tmp_path, scripted):
    # A Russian question about Russian articles, a Japanese one about Japanese articles: the
    # model is not asked to translate them into their own language.
    data = data_dir_with(tmp_path, "tram.ru.txt", TRAM_RU)
    server = scripted(replies=["240 миллионов евро [1]."], questions=lambda body: "x")
    answer = llm_answerer(data, server.url).ask("Сколько будет стоить трамвайная линия?")
    assert server.question_requests == [] and len(server.requests) == 1
    assert "translate" not in answer.timings
    assert search_language("路面電車はいくらかかりますか？", {"ja"}) is None
    assert search_language("How much will the tram cost?", {"ja", "ko"}) == "ja"
    assert search_language("Πόσο θα κοστίσει το τραμ;", {"el", "en"}) == "en"
    assert search_language("ट्राम की लागत कितनी होगी?", {"hi"}) is None


def test_a_greek_question_gets_greek_translations_of_english_quotes(tmp_path, scripted):
    data = data_dir_with(tmp_path, "tram.txt", TRAM_EN)
    greek = {  # each sentence of the article in Greek: the model translates what it is given
        "Riverton approves tram line": "Το Ρίβερτον εγκρίνει γραμμή τραμ",
        "The city council of Riverton approved a new tram line on Monday.": (
            "Το δημοτικό συμβούλιο του Riverton ενέκρινε νέα γραμμή τραμ τη Δευτέρα."
        ),
        "The tram line will cost 240 million euros and is due to open in 2028.": (
            "Η γραμμή του τραμ θα κοστίσει 240 εκατομμύρια ευρώ και θα ανοίξει το 2028."
        ),
    }

    def in_greek(text: str) -> str:
        for english, translation in greek.items():
            text = text.replace(english, translation)
        return text

    def translated(body: dict) -> str:
        asked = body["messages"][1]["content"]
        return in_greek(asked.split("<passage>")[1].split("</passage>")[0].strip())

    server = scripted(
        replies=["Η γραμμή κοστίζει πολύ.", translated, translated, translated],
        questions=lambda body: "How much will the tram line in Riverton cost?",
    )
    answer = llm_answerer(data, server.url).ask("Πόσο θα κοστίσει η γραμμή του τραμ στο Riverton;")
    assert "into Greek" in server.requests[1]["messages"][0]["content"]
    assert answer.citations
    assert [c.translation for c in answer.citations] == [
        in_greek(c.quote) for c in answer.citations
    ]
    assert "240" in answer.citations[0].quote or "240" in answer.citations[1].quote
    assert_quotes_are_the_evidence(answer)
