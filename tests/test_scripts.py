"""Articles and questions in scripts beyond Latin and Arabic: Chinese and Japanese (written
without spaces), the Indic scripts, Greek, Cyrillic... cut into sentences, quoted, and told
apart (index/language.py, index/chunking.py)."""

from __future__ import annotations

import re
import string

import pytest

from bot import prompts
from bot.core import build_answerer, indexer, open_store
from bot.settings import Settings
from index.ingest import ingest
from index.language import (
    detect_language,
    dominant_script,
    language_script,
    script_share,
    word_count,
)

TRAM_ZH = (
    "里弗顿市议会批准新建电车线路\n\n里弗顿市议会周一批准了一条新的电车线路。这条线路将耗资2.4亿"
    "欧元，预计于2028年开通。反对者说，这座城市负担不起这笔开支！市长表示，电车将减少市中心的交通"
    "拥堵。\n"
)
TRAM_HI = (
    "रिवरटन ने ट्राम लाइन को मंजूरी दी\n\nरिवरटन की नगर परिषद ने सोमवार को एक नई ट्राम लाइन को "
    "मंजूरी दी। इस लाइन पर 24 करोड़ यूरो खर्च होंगे और इसके 2028 में खुलने की उम्मीद है। विरोधियों "
    "का कहना है कि शहर इसका खर्च नहीं उठा सकता। महापौर ने कहा कि ट्राम से शहर के केंद्र में यातायात "
    "कम होगा।\n"
)


@pytest.fixture(scope="module")
def answerer(tmp_path_factory):
    """An answerer over two articles: the tram story in Chinese and in Hindi."""
    folder = tmp_path_factory.mktemp("scripts")
    for name, text in (("tram.zh.txt", TRAM_ZH), ("tram.hi.txt", TRAM_HI)):
        (folder / name).write_text(text, encoding="utf-8")
    settings = Settings(data_dir=folder / "data")
    store = open_store(settings, seed=False)
    report = ingest(
        indexer(settings, store), [str(folder / "tram.zh.txt"), str(folder / "tram.hi.txt")]
    )
    assert len(report.added) == 2
    return build_answerer(settings, store)


def test_a_chinese_article_is_quoted_sentence_by_sentence(answerer):
    # Chinese ends its sentences with 。！？ and no space, and spaces no words: its sentences
    # were one paragraph-long "sentence" of one "word" before, never quotable, and a
    # Chinese question was answered with the Hindi article's quotes.
    answer = answerer.ask("里弗顿的电车线路要花多少钱？")
    assert not answer.refused
    assert {c.title for c in answer.citations} == {"里弗顿市议会批准新建电车线路"}
    cost = next(c.quote for c in answer.citations if "2.4亿欧元" in c.quote)
    assert "反对者" not in cost and "市长" not in cost  # a sentence (and a neighbour), not all
    assert f"“{cost}”" in answer.text
    assert all(c.quote in TRAM_ZH for c in answer.citations)


def test_a_hindi_article_is_cut_at_its_full_stops(answerer):
    answer = answerer.ask("ट्राम लाइन पर कितना खर्च होगा?")
    # Its own article first (the same story in Chinese may fill the last place).
    assert answer.citations[0].title == "रिवरटन ने ट्राम लाइन को मंजूरी दी"
    hindi = [c for c in answer.citations if c.title == answer.citations[0].title]
    assert len(hindi) >= 2 and all(c.quote in TRAM_HI for c in hindi)
    cost = next(c.quote for c in hindi if "24 करोड़ यूरो" in c.quote)
    assert "महापौर" not in cost  # the mayor's sentence is two sentences away


def test_the_answer_speaks_the_language_of_a_chinese_or_russian_question(answerer, tmp_path):
    answer = answerer.ask("里弗顿的电车线路要花多少钱？")
    assert answer.lang == "zh-cn" and answer.text.startswith("以下是文章中的相关内容：")
    assert "摘自《里弗顿市议会批准新建电车线路》：" in answer.text
    traditional = answerer.ask("里弗頓的電車線路要花多少錢？")  # read as Korean before
    assert traditional.lang == "zh-tw" and traditional.text.startswith("以下是文章中的相關內容：")
    # No article here is in Russian: whatever the band, its words are Russian.
    russian = answerer.ask("Сколько будет стоить трамвайная линия?")
    frames = [prompts.text(key, "ru") for key in ("intro", "unsure_intro", "cannot_answer")]
    assert russian.lang == "ru" and russian.text.split("\n")[0] in frames
    assert answerer.ask("How much will the tram line cost?").lang == "en"
    japanese = answerer.ask("路面電車の路線の費用はいくらですか？")
    korean = answerer.ask("트램 노선 비용은 얼마입니까?")
    for answer, lang in ((japanese, "ja"), (korean, "ko")):
        frames = [prompts.text(key, lang) for key in ("intro", "unsure_intro", "cannot_answer")]
        assert answer.lang == lang and answer.text.split("\n")[0] in frames


def test_every_translated_text_fills_the_same_blanks_as_the_english_one():
    def blanks(template: str) -> set[str]:
        return {field for _, field, _, _ in string.Formatter().parse(template) if field}

    for lang, table in prompts.TEXTS.items():
        for key, template in table.items():
            assert blanks(template) == blanks(prompts.TEXTS["en"][key]), (lang, key)
    for lang in ("ru", "zh-cn", "zh-tw", "ja", "ko"):
        assert set(prompts.TEXTS[lang]) == set(prompts.TEXTS["ar"])  # the reader's texts


# The nouns the Russian and Arabic texts count, by stem: their form follows the number
# (21 статья, 22 статьи, 25 статей; 3 صفحات, 11 صفحة), which a template cannot know.
COUNTED = re.compile(r"\}\s*(стать|страниц|стр\b|символ|секунд|مقال|صفح|حرف|ثان|ثوان)")


@pytest.mark.parametrize("lang", ["ru", "ar"])
def test_no_russian_or_arabic_text_puts_a_number_before_a_noun_it_inflects(lang):
    """Counts are given as labels ("Статей: 21", "عدد المقالات 21"), whatever the number."""
    for key, template in prompts.TEXTS[lang].items():
        assert not COUNTED.search(template), (lang, key, template)
    shown = prompts.text("articles_no_page", lang, page="9", count="21", pages="3", size="10")
    assert "21" in shown and "/articles 3" in shown


def test_words_are_counted_in_scripts_that_do_not_space_them():
    assert word_count("Reuters reports.") == 2
    assert word_count("ماذا غنت ليدي غاغا؟") == 4
    assert word_count("里弗顿市议会周一批准了一条新的电车线路。") >= 4
    assert word_count("市长说了什么？") >= 2
    assert word_count("Lady Gaga 在表演中唱了什么？") >= 4


@pytest.mark.parametrize(
    ("code", "text"),
    [
        ("ar", "ماذا غنت ليدي غاغا في العرض؟"),
        ("fa", "لیدی گاگا در نمایش چه خواند؟"),
        ("en", "What did Lady Gaga sing at the show?"),
        ("vi", "Lady Gaga đã hát gì trong buổi biểu diễn?"),
        ("ru", "Что спела Леди Гага на шоу?"),
        ("el", "Τι τραγούδησε η Λέιντι Γκάγκα στο σόου;"),
        ("he", "מה שרה ליידי גאגא במופע?"),
        ("hi", "लेडी गागा ने शो में क्या गाया?"),
        ("bn", "লেডি গাগা অনুষ্ঠানে কী গেয়েছিলেন?"),
        ("ta", "லேடி காகா நிகழ்ச்சியில் என்ன பாடினார்?"),
        ("th", "เลดี้กาก้าร้องเพลงอะไรในการแสดง"),
        ("ka", "რა იმღერა ლედი გაგამ შოუზე?"),
        ("ja", "レディー・ガガはショーで何を歌いましたか？"),
        ("zh-cn", "嘎嘎小姐在表演中唱了什么？"),
        ("ko", "레이디 가가는 쇼에서 무엇을 불렀나요?"),
    ],
)
def test_a_languages_script_is_the_script_its_text_is_written_in(code, text):
    # What decides whether a question is translated for the search, and whether a reply is
    # in the reader's script: a language's script and a text's must be named alike.
    script = language_script(code)
    assert dominant_script(text) == script
    assert script_share(text, script) > 0.5
    assert script_share(text, "arabic" if script == "latin" else "latin") < 0.5


def test_a_text_of_no_letters_is_of_no_script():
    assert dominant_script("2028 — 240 ٢٤٠ !") == "other"
    assert script_share("2028 — 240 ٢٤٠ !", "arabic") == 0.0
    assert language_script("und") is None and language_script("sw") == "latin"


def test_an_arabic_question_is_answered_in_arabic_and_a_persian_one_is_not(answerer):
    # langdetect took these two Arabic questions of ARCD for Persian, and their
    # answers came with English text around the quotes. A question in letters Arabic uses
    # is Arabic; one with a letter only Persian, Urdu... use (here چ and ی) gets English,
    # articlebot having no Persian texts.
    frames = [prompts.text(key, "ar") for key in ("intro", "unsure_intro", "cannot_answer")]
    for question in ("اين تقع ايسلندا؟", "بماذا تمتاز سويسرا ؟"):
        answer = answerer.ask(question)
        assert answer.lang == "ar" and answer.text.split("\n")[0] in frames
    persian = answerer.ask("خط تراموا چقدر هزینه دارد؟")
    english = [prompts.text(key, "en") for key in ("intro", "unsure_intro", "cannot_answer")]
    assert persian.lang == "en" and persian.text.split("\n")[0] in english


def test_short_russian_questions_are_answered_in_russian_and_its_neighbours_are_not(answerer):
    # langdetect takes each of these for Macedonian, Bulgarian or Ukrainian.
    for question in (
        "Что Имран Хан сказал Лаврову?",
        "Кто победил?",
        "Сколько доз?",
        "Что сказал Лавров?",
        "Сколько стоит биткоин?",
    ):
        assert detect_language(question) == "ru", question
    answer = answerer.ask("Что Имран Хан сказал Лаврову?")
    assert answer.lang == "ru"
    frames = [prompts.text(key, "ru") for key in ("intro", "unsure_intro", "cannot_answer")]
    assert answer.text.split("\n")[0] in frames
    # Ukrainian, Bulgarian, Macedonian and Serbian questions in Cyrillic are not taken for it.
    for question in ("Що сказав Лавров?", "Хто переміг?", "Какво каза Лавров?", "Шта је рекао?"):
        assert detect_language(question) != "ru", question


def test_every_language_s_help_names_every_command_the_english_one_does():
    import re

    def commands(text: str) -> set[str]:
        return set(re.findall(r"/[a-z]+(?: (?:add|remove))?", text))

    for key in ("tg_help", "tg_help_admin"):
        english = commands(prompts.TEXTS["en"][key])
        assert {"/since", "/until", "/feed add", "/feeds"} & english
        for lang, table in prompts.TEXTS.items():
            if key in table:
                assert commands(table[key]) >= english, (lang, key)
