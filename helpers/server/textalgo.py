"""Small, deterministic text algorithms behind the local Text API stand-in.

They are honest approximations of what the real service does, written so a learner can read
them in a minute: extractive summarisation by word frequency, named entities from runs of
capitalised words, and the most frequent multi-word phrases. Same input, same output.
"""

from __future__ import annotations

import re
from collections import Counter

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
    """
    parts = sentences(text)
    if len(parts) <= 1:
        return " ".join(parts)
    freq = Counter(w.lower() for w in words(text) if w.lower() not in STOPWORDS)
    scores = []
    for index, sentence in enumerate(parts):
        content = [w.lower() for w in words(sentence) if w.lower() not in STOPWORDS]
        score = sum(freq[w] for w in content) / len(content) if content else 0.0
        scores.append((score, -index))
    keep = max_sentences if max_sentences is not None else max(1, round(len(parts) / 3))
    best = sorted(range(len(parts)), key=lambda i: scores[i], reverse=True)[:keep]
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
        i = 0
        while i < len(tokens):
            if not tokens[i][:1].isupper() or tokens[i] in _PERSON_TITLES:
                i += 1
                continue
            start = i
            while i < len(tokens) and tokens[i][:1].isupper() and tokens[i] not in _PERSON_TITLES:
                i += 1
            run = tokens[start:i]
            if start == 0 and len(run) == 1 and run[0] not in _PLACES:
                continue
            if run[0].lower() in STOPWORDS:
                run = run[1:]
                if not run:
                    continue
            entity = " ".join(run)
            if run[-1] in _ORG_SUFFIXES:
                label = "ORG"
            elif start > 0 and tokens[start - 1] in _PERSON_TITLES:
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


def most_common_phrases(text: str, num_phrases: int = 5) -> list[str]:
    """The most frequent two- and three-word phrases that neither start nor end in a stopword.

    Phrases never cross a sentence boundary. Ties go to the phrase seen first.
    """
    counts: Counter[str] = Counter()
    first_seen: dict[str, int] = {}
    position = 0
    for sentence in sentences(text):
        tokens = [w.lower() for w in words(sentence)]
        for n in (2, 3):
            for i in range(len(tokens) - n + 1):
                gram = tokens[i : i + n]
                if gram[0] in STOPWORDS or gram[-1] in STOPWORDS:
                    continue
                phrase = " ".join(gram)
                counts[phrase] += 1
                first_seen.setdefault(phrase, position + i)
        position += len(tokens)
    ranked = sorted(counts, key=lambda p: (-counts[p], first_seen[p]))
    return ranked[:num_phrases]
