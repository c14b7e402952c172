"""The Text API stand-in: the key, the validation, the algorithms, and the key never leaking."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import requests

from helpers.server import textalgo
from helpers.server.settings import ServerSettings
from tests.conftest import ROOT, TEST_KEY

PARAGRAPH = (
    "Professor Oak studies Pokémon in Pallet Town. Dr Smith visited London last spring. "
    "The research lab of Silph Corp makes Poke Balls. Trainers catch wild Pokémon with Poke "
    "Balls. Wild Pokémon live in tall grass near Pallet Town. Many trainers start their journey "
    "in Pallet Town."
)
ENDPOINTS = {
    "summarize": ({"text": PARAGRAPH}, "summary"),
    "ner": ({"text": PARAGRAPH}, "ner"),
    "most_common_phrases": ({"text": PARAGRAPH, "num_phrases": 3}, "most common phrases"),
}


@pytest.fixture(scope="module")
def http():
    with requests.Session() as session:
        yield session


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_key_is_required(api, http, endpoint):
    body, answer_key = ENDPOINTS[endpoint]
    url = f"{api.text_api_url}/{endpoint}"
    missing = http.post(url, json=body)
    wrong = http.post(url, json=body, headers={"apikey": TEST_KEY + "x"})
    empty = http.post(url, json=body, headers={"apikey": ""})
    for r in (missing, wrong, empty):
        assert r.status_code == 401
        assert "apikey" in r.json()["error"]
        assert TEST_KEY not in r.text
    right = http.post(url, json=body, headers={"apikey": api.text_api_key})
    assert right.status_code == 200
    assert list(right.json()) == [answer_key]


def test_answers(api, http):
    headers = {"apikey": api.text_api_key}
    summary = http.post(f"{api.text_api_url}/summarize", json={"text": PARAGRAPH},
                        headers=headers).json()["summary"]
    assert summary == textalgo.summarize(PARAGRAPH)
    ner = http.post(f"{api.text_api_url}/ner", json={"text": PARAGRAPH}, headers=headers).json()
    assert ["GPE", "London"] in ner["ner"]
    phrases = http.post(f"{api.text_api_url}/most_common_phrases",
                        json={"text": PARAGRAPH, "num_phrases": 2}, headers=headers).json()
    assert phrases == {"most common phrases": textalgo.most_common_phrases(PARAGRAPH, 2)}
    assert len(phrases["most common phrases"]) == 2


@pytest.mark.parametrize("value", [0, -1, 101, 2.5, "3", True, None, [3]])
def test_num_phrases_validation(api, http, value):
    r = http.post(f"{api.text_api_url}/most_common_phrases",
                  json={"text": PARAGRAPH, "num_phrases": value},
                  headers={"apikey": api.text_api_key})
    assert r.status_code == 400
    assert "num_phrases" in r.json()["error"]


@pytest.mark.parametrize("value", [1, 5, 100])
def test_num_phrases_accepted(api, http, value):
    r = http.post(f"{api.text_api_url}/most_common_phrases",
                  json={"text": PARAGRAPH, "num_phrases": value},
                  headers={"apikey": api.text_api_key})
    assert r.status_code == 200
    assert 1 <= len(r.json()["most common phrases"]) <= value


def test_default_num_phrases_is_5(api, http):
    r = http.post(f"{api.text_api_url}/most_common_phrases", json={"text": PARAGRAPH * 3},
                  headers={"apikey": api.text_api_key})
    assert len(r.json()["most common phrases"]) == 5


# --------------------------------------------------------------------------- the algorithms


def test_summary_is_made_of_sentences_of_the_text():
    summary = textalgo.summarize(PARAGRAPH)
    parts = textalgo.sentences(summary)
    originals = textalgo.sentences(PARAGRAPH)
    assert 1 <= len(parts) < len(originals)
    assert all(p in originals for p in parts)
    # In the text's order.
    assert [originals.index(p) for p in parts] == sorted(originals.index(p) for p in parts)
    assert summary == textalgo.summarize(PARAGRAPH)  # deterministic
    assert "Pallet Town" in summary  # the most repeated content words win


def test_entities_found():
    entities = textalgo.named_entities(PARAGRAPH)
    assert ["GPE", "London"] in entities
    assert ["ORG", "Silph Corp"] in entities
    assert ["PERSON", "Smith"] in entities
    assert ["PERSON", "Oak"] in entities
    names = [e for _, e in entities]
    assert "Pallet Town" in names
    assert len(names) == len(set(names))  # each entity once
    assert entities == textalgo.named_entities(PARAGRAPH)


def test_phrases_counted():
    phrases = textalgo.most_common_phrases(PARAGRAPH, 3)
    assert phrases[0] == "pallet town"  # three times, more than any other
    assert set(phrases[1:]) == {"wild pokémon", "poke balls"}  # twice each; é is a letter
    assert all("pok mon" not in p for p in textalgo.most_common_phrases(PARAGRAPH, 100))
    assert len(phrases) == 3
    text = "red fox. red fox. blue bird."
    assert textalgo.most_common_phrases(text, 5) == ["red fox", "blue bird"]


@pytest.mark.parametrize("text", ["", "   ", "...", "!?"])
def test_empty_text(text):
    assert textalgo.summarize(text) in ("", text.strip())
    assert textalgo.named_entities(text) == []
    assert textalgo.most_common_phrases(text, 5) == []


def test_empty_text_over_http(api, http):
    headers = {"apikey": api.text_api_key}
    assert http.post(f"{api.text_api_url}/summarize", json={"text": ""},
                     headers=headers).json() == {"summary": ""}
    assert http.post(f"{api.text_api_url}/ner", json={"text": ""},
                     headers=headers).json() == {"ner": []}
    assert http.post(f"{api.text_api_url}/most_common_phrases", json={"text": ""},
                     headers=headers).json() == {"most common phrases": []}


def test_single_sentence_summary_is_the_sentence():
    assert textalgo.summarize("Only one sentence here.") == "Only one sentence here."


# --------------------------------------------------------------------------- the key stays secret


SECRET = "s3cret-key-never-printed-91"


def test_key_not_in_repr_nor_public_settings():
    settings = ServerSettings(text_api_key=SECRET)
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings.public())


def test_key_not_in_stats(api, http):
    assert api.text_api_key not in http.get(f"{api.origin}/_stats").text
    assert api.text_api_key not in repr(api)


@pytest.mark.parametrize("managed", [False, True])
def test_key_never_in_the_server_output(managed):
    env = dict(os.environ, TEXT_API_KEY=SECRET, PYTHONPATH=str(ROOT))
    args = [sys.executable, "-m", "helpers.server", "--port", "0"]
    if managed:
        args.append("--managed")
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, cwd=ROOT)
    try:
        assert proc.stdout is not None
        base = proc.stdout.readline().decode().strip()
        assert base.startswith("http://127.0.0.1:") and base.endswith("/api/v2")
        text_url = base.removesuffix("/api/v2") + "/text"
        with requests.Session() as http:
            for key in ("wrong", SECRET[:-1], "", SECRET + "x", SECRET.upper()):
                r = http.post(f"{text_url}/summarize", json={"text": "Hi."},
                              headers={"apikey": key})
                assert r.status_code == 401
                assert SECRET not in r.text
            r = http.post(f"{text_url}/ner", data=b"{", headers={"apikey": SECRET})
            assert r.status_code == 400 and SECRET not in r.text
            assert SECRET not in http.get(base.removesuffix("/api/v2") + "/_stats").text
    finally:
        proc.stdin.close()  # type: ignore[union-attr]  # a managed server exits
        if not managed:
            proc.terminate()  # SIGTERM: a clean stop
        proc.wait(timeout=10)
        out = base.encode() + proc.stdout.read()  # type: ignore[union-attr]
        err = proc.stderr.read()  # type: ignore[union-attr]
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]
    assert proc.returncode == 0
    assert SECRET.encode() not in out
    assert SECRET.encode() not in err
    if not managed:
        assert b"TEXT_API_KEY" in out  # it says where the key comes from, not what it is
