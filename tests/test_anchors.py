"""Names in an English question found in Arabic text, by their consonant skeleton."""

from __future__ import annotations

import pytest

from bot.anchors import name_overlap, names

# Sentences of the bundled sample article and of Arabic Wikipedia (XQuAD), as written.
LAVROV = "وقال وزير الخارجية الروسي سيرغي لافروف إن موسكو مستعدة لتزويد باكستان باللقاح."
TALKS = "أجرى لافروف وقريشي محادثات في إسلام أباد."
BRONCOS = "هزم فريق دنفر برونكوس فريق بيتسبرغ ستيلرز في الدور الفاصل."


@pytest.mark.parametrize(
    ("question", "text"),
    [
        ("What did Lavrov say?", LAVROV),
        ("Which country will Moscow supply?", LAVROV),
        ("Who did Qureshi meet?", TALKS),  # written وقريشي: "and Qureshi"
        ("Where did the talks take place, Islamabad?", TALKS),  # two words in Arabic
        ("Who did the Broncos beat?", BRONCOS),
        ("Did Pittsburgh lose?", BRONCOS),  # doubled consonants, "gh"
        ("What did Lavrov say?", "قال لافْرُوف إنّ موسكو مستعدة"),  # with harakat
    ],
)
def test_a_name_in_the_question_is_found_in_its_arabic_spelling(question, text):
    assert name_overlap(names(question), text) == 1.0


def test_the_share_of_the_names_found_is_the_overlap():
    question = "What did Lavrov tell Blinken about Sputnik?"
    assert name_overlap(names(question), LAVROV) == pytest.approx(1 / 3)
    assert name_overlap(names(question), BRONCOS) == 0.0


def test_a_name_matches_in_an_english_article_too():
    english = "Russian Foreign Minister Sergei Lavrov said Moscow was ready."
    assert name_overlap(names("What did Lavrov promise?"), english) == 1.0


def test_only_capitalised_words_that_are_not_question_words_count_as_names():
    assert names("What did the minister promise on vaccines?") == ()
    assert names("How many Which What") == ()
    assert names("When did Lavrov arrive?") == ("LFRF",)
    # A request opens with a capital: "List" would match ليست ("is not").
    assert names("List the ministers Lavrov met") == ("LFRF",)


def test_a_question_typed_without_capitals_still_finds_the_names():
    question = "what did lavrov say about islamabad?"
    assert name_overlap(names(question), TALKS) == 1.0
    assert names("what did he say?") == ()  # no word of four consonants or more


def test_a_long_question_is_matched_on_its_first_sixteen_names_each_once():
    made_up = [f"Ba{b}o{c}" for b in "dfklmnrst" for c in "dfklmnrst"]  # BDD, BDF, ...
    question = "Did Lavrov meet Lavrov? " + " ".join(made_up)
    found = names(question)
    assert found[0] == "LFRF" and found.count("LFRF") == 1
    assert len(found) == 16


def test_a_name_in_an_arabic_question_is_found_in_an_english_passage():
    english = "The Panthers defense gave up just 308 points, and Luke Kuechly led in tackles."
    question = "كم نقطة تخلى عنها دفاع البانثرز؟"  # "the Panthers", with its article
    assert name_overlap(names(question), english) > 0
    assert name_overlap(names("من هو جاريد ألين؟"), "Jared Allen had 136 sacks.") == 1.0
    assert name_overlap(names(question), "The defense gave up just 308 points.") == 0.0


def test_an_arabic_questions_words_are_not_matched_against_arabic_text():
    # Within one script the words are the embedder's job: only Latin-script capitals count.
    assert name_overlap(names("ماذا قال لافروف عن اللقاح؟"), LAVROV) == 0.0
    assert names("لماذا كانت هذه") == ()  # function words are not names


@pytest.mark.parametrize(
    "question",
    [
        "Что сказал Лавров о Курейши?",  # Russian
        "Τι είπε ο Λαβρόφ στον Κουρεΐσι;",  # Greek
    ],
)
def test_a_name_in_a_russian_or_greek_question_is_found_in_arabic_and_english(question):
    assert name_overlap(names(question), TALKS) == 1.0
    english = "Lavrov held talks with Qureshi in Islamabad."
    assert name_overlap(names(question), english) == 1.0
    assert name_overlap(names(question), BRONCOS) == 0.0


def test_a_name_in_a_russian_passage_is_found_from_any_script():
    russian = "Министр иностранных дел России Сергей Лавров прибыл в Исламабад."
    assert name_overlap(names("What did Lavrov say in Islamabad?"), russian) == 1.0
    assert name_overlap(names("ماذا قال لافروف؟"), russian) == 1.0  # Arabic question words
    # Declined forms keep the consonants: Лаврова, Исламабаде.
    assert name_overlap(names("Что сказал Лавров?"), "Визит Лаврова в Исламабаде") == 1.0
    # Question words that open a sentence with a capital are not names.
    assert names("Кто такой Лавров?") == ("LFRF",)
    assert names("Когда и почему?") == () and names("Πότε και γιατί;") == ()
    # Typed without capitals, every word of four consonants or more is a candidate.
    assert "LFRF" in names("что сказал лавров в исламабаде?")
