"""Small, deterministic text algorithms behind the local Text API stand-in.

They are honest approximations of what the real service does, written so a learner can read
them in a minute: extractive summarisation by word frequency, named entities from runs of
capitalised words, and the most frequent multi-word phrases. Same input, same output.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from itertools import groupby, pairwise, zip_longest

_SENTENCE = re.compile(r"[^.!?]+(?:[.!?]+|$)")
# Words are runs of letters of any alphabet ("Pokémon" is one word), with ' and - inside.
_WORD = re.compile(r"[^\W\d_](?:[^\W\d_]|['-])*|\d+(?:\.\d+)?")
STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each few
    for from further had has have having he her here hers herself him himself his how i if in
    into is it its itself just me more most my myself no nor not now of off on once only or
    other our ours ourselves out over own same she should so some such than that the their
    theirs them themselves then there these they this those through to too under until up
    very was we were what when where which while who whom why will with would you your yours
    yourself yourselves""".split()
)
_ORG_SUFFIXES = frozenset({"Inc", "Corp", "Corporation", "Ltd", "LLC", "Company", "University"})
_PERSON_TITLES = frozenset({"Mr", "Mrs", "Ms", "Dr", "Prof", "Professor", "Sir"})
_PLACES = frozenset(
    """Africa America Asia Australia Berlin Brazil California Canada China Europe France
    Germany India Italy Japan Kanto London Madrid Mexico Paris Russia Spain Tokyo Kyoto
    UK US USA""".split()
)


def sentences(text: str) -> list[str]:
    """Split on ., ! and ?, keeping the punctuation; blank pieces are dropped."""
    return [s.strip() for s in _SENTENCE.findall(text) if s.strip()]


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def summarize(text: str, max_sentences: int | None = None) -> str:
    """Keep the sentences whose content words are most frequent in the whole text.

    Each sentence scores the mean document frequency of its non-stopwords; the best third
    (at least one) is returned in the original order, so the summary reads as the text does.
    Equal scores go to the earlier sentence: ``sorted`` is stable, also with ``reverse=True``.
    """
    parts = sentences(text)
    freq = Counter(w.lower() for w in words(text) if w.lower() not in STOPWORDS)
    scores = []
    for sentence in parts:
        content = [w.lower() for w in words(sentence) if w.lower() not in STOPWORDS]
        scores.append(sum(freq[w] for w in content) / len(content) if content else 0.0)
    keep = max_sentences if max_sentences is not None else max(1, round(len(parts) / 3))
    best = sorted(range(len(parts)), key=scores.__getitem__, reverse=True)[:keep]
    return " ".join(parts[i] for i in sorted(best))


def named_entities(text: str) -> list[list[str]]:
    """Runs of capitalised words, labelled by simple rules, each entity reported once.

    ``ORG`` when the run ends in a company word (Inc, Corp, ...), ``PERSON`` after a title
    (Mr, Dr, ...) or for two or more capitalised words, ``GPE`` for a known place, else
    ``MISC``. A lone capitalised word opening a sentence is skipped unless it is a known place:
    capitals there say nothing.
    """
    found: list[list[str]] = []
    seen: set[str] = set()
    for sentence in sentences(text):
        tokens = words(sentence)
        # Runs of capitalised words that are not titles, each with the word before it.
        for capitalised, group in groupby(enumerate(tokens), key=lambda t: _in_a_name(t[1])):
            if not capitalised:
                continue
            numbered = list(group)
            start, run = numbered[0][0], [word for _, word in numbered]
            before = tokens[start - 1] if start else None  # None: the run opens the sentence
            if before is None and len(run) == 1 and run[0] not in _PLACES:
                continue
            if run[0].lower() in STOPWORDS:
                run = run[1:]
                if not run:
                    continue
            entity = " ".join(run)
            if run[-1] in _ORG_SUFFIXES:
                label = "ORG"
            elif before in _PERSON_TITLES:
                label = "PERSON"
            elif entity in _PLACES:
                label = "GPE"
            elif len(run) >= 2:
                label = "PERSON"
            else:
                label = "MISC"
            if entity not in seen:
                seen.add(entity)
                found.append([label, entity])
    return found


def _in_a_name(word: str) -> bool:
    return word[:1].isupper() and word not in _PERSON_TITLES


def most_common_phrases(text: str, num_phrases: int = 5) -> list[str]:
    """The most frequent two- and three-word phrases that neither start nor end in a stopword.

    Phrases never cross a sentence boundary. Ties go to the phrase seen first: a Counter
    keeps the order phrases were first counted in, and ``most_common`` is a stable sort.
    """
    counts = Counter(
        " ".join(gram)
        for sentence in sentences(text)
        for gram in _windows([w.lower() for w in words(sentence)])
        if gram[0] not in STOPWORDS and gram[-1] not in STOPWORDS
    )
    return [phrase for phrase, _ in counts.most_common(num_phrases)]


def _windows(tokens: list[str]) -> Iterator[tuple[str, ...]]:
    """Every two- and three-word window, in reading order: by first word, the shorter first."""
    pairs = pairwise(tokens)
    triples = zip(tokens, tokens[1:], tokens[2:], strict=False)
    for pair, triple in zip_longest(pairs, triples):
        yield pair
        if triple:
            yield triple
