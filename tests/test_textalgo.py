"""The Text API's algorithms against answers worked out by hand from their documented rules.

``test_text_api.py`` checks the HTTP side (and compares answers with these same functions, which
cannot catch a wrong rule). Here each expected value follows from the rule in the docstring:
the summary keeps the best third by mean word frequency, entities follow the labelling rules,
phrases are ranked by count and then by first appearance.
"""

from __future__ import annotations

import pytest

from helpers.server import textalgo

POKEDEX_TEXT = (
    "Bulbasaur is a grass type. Ivysaur is a grass type too. Venusaur is big. "
    "Charmander likes fire. Fire burns grass type plants. Squirtle swims."
)


def test_sentences_keep_their_punctuation():
    assert textalgo.sentences("One. Two!  Three? four") == ["One.", "Two!", "Three?", "four"]
    assert textalgo.sentences("Wait... what?!") == ["Wait...", "what?!"]
    assert textalgo.sentences("") == []


def test_words_are_letters_with_inner_apostrophes_and_hyphens_or_numbers():
    assert textalgo.words("Rock-type isn't 3.5 or 42 Pokémon's_x") == [
        "Rock-type", "isn't", "3.5", "or", "42", "Pokémon's", "x"]


def test_summary_keeps_the_best_third():
    # Mean frequency of content words: grass and type appear 3 times each, fire twice, the
    # rest once. Sentences 1 and 2 score 7/3, sentence 5 scores 10/5, the others less.
    assert textalgo.summarize(POKEDEX_TEXT) == (
        "Bulbasaur is a grass type. Ivysaur is a grass type too.")
    assert textalgo.summarize(POKEDEX_TEXT, max_sentences=3) == (
        "Bulbasaur is a grass type. Ivysaur is a grass type too. Fire burns grass type plants.")


def test_summary_reads_in_text_order_and_ties_go_to_the_earlier_sentence():
    text = "Squirtle swims. Venusaur is big. Grass types love grass and grass types."
    # Scores 1, 1 and 11/5: the last sentence is best; the tie between the first two goes to
    # the earlier one; the summary keeps the text's order.
    assert textalgo.summarize(text) == "Grass types love grass and grass types."
    assert textalgo.summarize(text, max_sentences=2) == (
        "Squirtle swims. Grass types love grass and grass types.")


def test_scores_are_exact_means_not_rounded_down():
    # Means 1 and 5/3: rounded down both would be 1, and the tie would go to the first.
    assert textalgo.summarize("Ash runs far. Pikachu zaps Pikachu.") == "Pikachu zaps Pikachu."


def test_a_sentence_of_stopwords_scores_nothing():
    assert textalgo.summarize("It is what it is. Pikachu zaps Pikachu.") == "Pikachu zaps Pikachu."
    assert textalgo.summarize("Pikachu zaps Pikachu. It is what it is.") == "Pikachu zaps Pikachu."
    # Zero, not merely less: words seen once score 1, and the stopwords still lose.
    assert textalgo.summarize("It is what it is. Pikachu zaps.") == "Pikachu zaps."


@pytest.mark.parametrize(("n", "kept"),
                         [(0, 0), (1, 1), (2, 1), (3, 1), (4, 1), (5, 2), (6, 2), (7, 2), (8, 3)])
def test_summary_length_is_a_third_rounded_at_least_one(n, kept):
    text = " ".join(f"Sentence number {word} here." for word in
                    ["one", "two", "three", "four", "five", "six", "seven", "eight"][:n])
    assert len(textalgo.sentences(textalgo.summarize(text))) == kept


ENTITY_TEXT = (
    "We met Mr Brock Harrison in Paris. Team Rocket attacked. The Silph Corp grew. "
    "Ash went to Kyoto. Then Misty left. Paris is old. Professor Oak laughed. "
    "Gary Oak and Misty Waterflower walked. Trainers rest In peace. Pikachu met Eevee."
)


def test_entities_follow_the_labelling_rules():
    assert textalgo.named_entities(ENTITY_TEXT) == [
        ["PERSON", "Brock Harrison"],  # after a title (Mr), which is not part of the name
        ["GPE", "Paris"],  # a known place, reported once although it comes back
        ["PERSON", "Team Rocket"],  # two capitalised words, even opening a sentence
        ["ORG", "Silph Corp"],  # ends in a company word; the leading stopword The is dropped
        # "Ash" opens its sentence alone and is no place: skipped
        ["GPE", "Kyoto"],
        ["MISC", "Misty"],  # "Then Misty": the stopword goes, one word is left
        ["PERSON", "Oak"],  # after the title Professor
        ["PERSON", "Gary Oak"],
        ["PERSON", "Misty Waterflower"],
        # "In" is a capitalised stopword: nothing left once it is dropped
        ["MISC", "Eevee"],  # "Pikachu" opens its sentence alone: skipped
    ]


def test_a_place_opening_a_sentence_is_still_a_place():
    assert textalgo.named_entities("Tokyo is big. Kanto too.") == [
        ["GPE", "Tokyo"], ["GPE", "Kanto"]]
    # "Mr." ends a sentence here; the title at its end says nothing about the place opening it.
    assert textalgo.named_entities("Tokyo welcomed Mr. Smith.") == [["GPE", "Tokyo"]]


def test_a_lone_capitalised_stopword_does_not_end_the_sentence():
    assert textalgo.named_entities("Trainers rest In peace near Kyoto.") == [["GPE", "Kyoto"]]


def test_three_capitalised_words_are_a_person_too():
    assert textalgo.named_entities("We saw Ash Ketchum Junior today.") == [
        ["PERSON", "Ash Ketchum Junior"]]


PHRASE_TEXT = (
    "Red fox runs fast. The red fox runs. A blue bird sings. Blue bird, red fox runs fast."
)


def test_phrases_ranked_by_count_then_first_appearance():
    # Counts: red fox, fox runs, red fox runs 3 each; runs fast, fox runs fast, blue bird 2;
    # the rest once. Equal counts: the phrase that appeared first comes first.
    assert textalgo.most_common_phrases(PHRASE_TEXT, 10) == [
        "red fox", "red fox runs", "fox runs", "fox runs fast", "runs fast", "blue bird",
        "blue bird sings", "bird sings", "blue bird red", "bird red",
    ]
    assert textalgo.most_common_phrases(PHRASE_TEXT, 2) == ["red fox", "red fox runs"]


def test_phrases_neither_start_nor_end_in_a_stopword_nor_cross_sentences():
    phrases = textalgo.most_common_phrases(PHRASE_TEXT, 100)
    assert len(phrases) == 11
    assert not {"the red", "the red fox", "a blue", "a blue bird"} & set(phrases)
    assert "sings blue" not in phrases and "fast the" not in phrases  # across a full stop
    assert "bird red fox" in phrases  # a comma is no sentence boundary


def test_a_phrase_ending_in_a_stopword_is_left_out():
    # "ran to" and "pikachu ran to" come twice but end in "to"; "ran to ash" ends in a name.
    assert textalgo.most_common_phrases("Pikachu ran to Ash. Pikachu ran to Misty.", 10) == [
        "pikachu ran", "ran to ash", "ran to misty"]


def test_a_long_sentence_ending_in_a_name():
    # Over 256 words: no shortcut that holds only for small numbers.
    assert textalgo.named_entities("word " * 300 + "near Kyoto") == [["GPE", "Kyoto"]]


def test_five_phrases_by_default():
    text = "Red fox. Blue jay. Green frog. Gray wolf. Pink pig. Tan cat."
    assert textalgo.most_common_phrases(text) == [
        "red fox", "blue jay", "green frog", "gray wolf", "pink pig"]


def test_a_title_before_a_capitalised_stopword_still_makes_a_person():
    """"Mr The Rock": the title is the word before the whole run; dropping the stopword
    "The" from the run does not make "The" the word before "Rock"."""
    assert textalgo.named_entities("We met Mr The Rock today.") == [["PERSON", "Rock"]]
