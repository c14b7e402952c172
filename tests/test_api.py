"""The PokéAPI subset: every endpoint, every status, the shapes of the bodies."""

from __future__ import annotations

import json

import pytest
import requests

from tests.conftest import get


@pytest.fixture(scope="module")
def http():
    with requests.Session() as session:
        yield session


@pytest.mark.parametrize(
    "key", ["25", "25/", "pikachu", "pikachu/", "PIKACHU", "Pikachu/", "025", "0025/"]
)
def test_pokemon_by_id_or_name(api, http, key):
    r = http.get(f"{api.base_url}/pokemon/{key}")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert (body["id"], body["name"]) == (25, "pikachu")


@pytest.mark.parametrize("key", ["0", "152", "-1", "agumon", "00000", "999999999999", "mew-two"])
def test_unknown_pokemon_is_404_not_found(api, http, key):
    for suffix in ("", "/"):
        r = http.get(f"{api.base_url}/pokemon/{key}{suffix}")
        assert r.status_code == 404
        assert r.headers["Content-Type"].startswith("text/plain")
        assert r.text == "Not Found"


@pytest.mark.parametrize("key", ["pika_chu", "pika.chu", "pika%20chu", "%C3%A9", "1;2", "a%2Fb"])
def test_malformed_key_is_400_bad_request(port, key):
    r = get(port, f"/api/v2/pokemon/{key}")
    assert r.status == 400
    assert r.headers["content-type"].startswith("text/plain")
    assert r.text == "Bad Request"


def test_body_shape(api, http):
    body = http.get(f"{api.base_url}/pokemon/1").json()
    assert body["id"] == 1 and body["name"] == "bulbasaur"
    assert (body["height"], body["weight"], body["base_experience"]) == (7, 69, 64)
    assert [t["slot"] for t in body["types"]] == [1, 2]
    assert [t["type"]["name"] for t in body["types"]] == ["grass", "poison"]
    # PokéAPI's links end in the resource's id; clients such as pokebase parse it.
    assert body["types"][0]["type"]["url"] == f"{api.base_url}/type/12/"
    assert body["types"][1]["type"]["url"] == f"{api.base_url}/type/4/"
    assert body["abilities"][0]["ability"] == {
        "name": "overgrow", "url": f"{api.base_url}/ability/65/"
    }
    assert [s["stat"]["name"] for s in body["stats"]] == [
        "hp", "attack", "defense", "special-attack", "special-defense", "speed"
    ]
    assert body["stats"][0]["stat"]["url"] == f"{api.base_url}/stat/1/"
    assert body["species"] == {"name": "bulbasaur", "url": f"{api.base_url}/pokemon-species/1/"}
    assert body["location_area_encounters"] == f"{api.base_url}/pokemon/1/encounters"
    for key in ("abilities", "stats", "forms", "moves", "sprites", "order", "is_default"):
        assert key in body
    # Every URL in the body points at this very server.
    urls = [v for v in _walk(body) if isinstance(v, str) and v.startswith("http")]
    assert urls and all(u.startswith(api.base_url + "/") for u in urls)


def _walk(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)
    else:
        yield value


def test_urls_follow_the_host_the_client_used(port):
    r = get(port, "/api/v2/pokemon/1/", headers="").text
    assert f"http://127.0.0.1:{port}/api/v2/type/12/" in r
    r2 = raw_host(port, f"localhost:{port}")
    assert f"http://localhost:{port}/api/v2/" in r2


def raw_host(port, host):
    from tests.conftest import raw_http

    request = f"GET /api/v2/pokemon/1 HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    return raw_http(port, request.encode()).text


def test_types_are_in_slot_order_everywhere(api, http):
    for pid in (6, 12, 16, 25, 130, 149):  # charizard, butterfree, pidgey, pikachu, gyarados ...
        types = http.get(f"{api.base_url}/pokemon/{pid}").json()["types"]
        assert [t["slot"] for t in types] == list(range(1, len(types) + 1))


def test_list_defaults(api, http):
    for url in (f"{api.base_url}/pokemon", f"{api.base_url}/pokemon/"):
        body = http.get(url).json()
        assert body["count"] == 151
        assert len(body["results"]) == 20
        assert body["results"][0] == {"name": "bulbasaur", "url": f"{api.base_url}/pokemon/1/"}
        assert body["previous"] is None
        assert body["next"] == f"{api.base_url}/pokemon/?offset=20&limit=20"


def test_list_pages_follow_next_to_the_end(api, http):
    url, names = f"{api.base_url}/pokemon/?limit=50", []
    pages = 0
    while url:
        body = http.get(url).json()
        names += [r["name"] for r in body["results"]]
        url = body["next"]
        pages += 1
    assert pages == 4
    assert len(names) == 151 == len(set(names))
    assert names[0] == "bulbasaur" and names[-1] == "mew"


def test_list_last_page_and_previous(api, http):
    body = http.get(f"{api.base_url}/pokemon/?offset=140&limit=20").json()
    assert [r["name"] for r in body["results"]][-2:] == ["mewtwo", "mew"]
    assert len(body["results"]) == 11
    assert body["next"] is None
    assert body["previous"] == f"{api.base_url}/pokemon/?offset=120&limit=20"


def test_list_offset_beyond_the_end(api, http):
    body = http.get(f"{api.base_url}/pokemon/?offset=500&limit=20").json()
    assert body["count"] == 151
    assert body["results"] == []
    assert body["next"] is None


def test_list_all_at_once(api, http):
    body = http.get(f"{api.base_url}/pokemon/?limit=100000").json()
    assert len(body["results"]) == 151 and body["next"] is None


@pytest.mark.parametrize(
    "query",
    ["offset=-1", "offset=abc", "limit=0", "limit=-5", "limit=x", "limit=1.5", "offset=%zz",
     "limit=", "offset=", "limit=%EF%BC%95"],  # the last one is a full-width digit five
)
def test_list_bad_values_fall_back_to_defaults(api, http, query):
    r = http.get(f"{api.base_url}/pokemon/?{query}")
    assert r.status_code == 200
    body = r.json()
    assert body["count"] == 151
    assert len(body["results"]) == 20
    assert body["results"][0]["name"] == "bulbasaur"


def test_index(api, http):
    for url in (api.base_url, api.base_url + "/"):
        body = http.get(url).json()
        assert body["pokemon"] == f"{api.base_url}/pokemon/"
        assert body["type"] == f"{api.base_url}/type/"


@pytest.mark.parametrize(
    ("kind", "count", "first"),
    [("type", 18, "normal"), ("stat", 6, "hp"), ("pokemon-species", 151, "bulbasaur"),
     ("pokemon-form", 151, "bulbasaur"), ("ability", None, "stench")],
)
def test_linked_resources_are_listed(api, http, kind, count, first):
    body = http.get(f"{api.base_url}/{kind}/?limit=1000").json()
    if count is not None:
        assert body["count"] == count
    assert body["results"][0]["name"] == first
    assert body["results"][0]["url"].startswith(f"{api.base_url}/{kind}/")


def test_every_link_in_every_body_resolves(api, http):
    """What a client library does: follow each reference; each answers its id and name."""
    listed = {
        kind: {r["url"]: r["name"] for r in http.get(f"{api.base_url}/{kind}/?limit=1000")
               .json()["results"]}
        for kind in ("type", "ability", "stat", "pokemon-species", "pokemon-form")
    }
    for pid in range(1, 152):
        body = http.get(f"{api.base_url}/pokemon/{pid}").json()
        refs = [t["type"] for t in body["types"]] + [a["ability"] for a in body["abilities"]]
        refs += [s["stat"] for s in body["stats"]] + [body["species"], *body["forms"]]
        for ref in refs:
            kind = ref["url"].split("/")[-3]
            assert listed[kind][ref["url"]] == ref["name"], ref
    grass = http.get(f"{api.base_url}/type/12/").json()
    assert grass == {"id": 12, "name": "grass"}
    assert http.get(f"{api.base_url}/type/GRASS").json() == {"id": 12, "name": "grass"}
    assert http.get(f"{api.base_url}/type/99/").status_code == 404
    assert http.get(f"{api.base_url}/ability/no-such-thing/").text == "Not Found"


def test_encounters_link(api, http):
    assert http.get(f"{api.base_url}/pokemon/1/encounters").json() == []
    assert http.get(f"{api.base_url}/pokemon/pikachu/encounters/").json() == []
    assert http.get(f"{api.base_url}/pokemon/152/encounters").status_code == 404


@pytest.mark.parametrize(
    "path", ["/api/v2/pokemon/1", "/api/v2/pokemon/", "/api/v2", "/text/summarize"]
)
def test_wrong_method_is_405_not_5xx(port, path):
    method = "GET" if path.startswith("/text") else "POST"
    r = get(port, path, method=method, headers="Content-Length: 0\r\n")
    assert r.status == 405
    assert r.text == "Method Not Allowed"
    assert "allow" in r.headers


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_on_get_routes_are_405(port, method):
    r = get(port, "/api/v2/pokemon/1", method=method, headers="Content-Length: 0\r\n")
    assert r.status == 405


def test_head_is_answered_without_a_body(port):
    # HTTP requires HEAD wherever GET works: the same status and headers, no body.
    r = get(port, "/api/v2/pokemon/1", method="HEAD")
    assert r.status == 200
    assert r.body == b""
    assert get(port, "/api/v2/pokemon/agumon", method="HEAD").status == 404


def test_unknown_paths_are_404(api, http):
    for path in ("/", "/api", "/api/v1/pokemon/1", "/api/v2/berry/1", "/text", "/text/nope"):
        r = http.get(api.origin + path)
        assert r.status_code == 404, path
        assert r.text == "Not Found"


def test_stats_endpoint_shape(api, http):
    body = http.get(f"{api.origin}/_stats").json()
    for key in ("requests", "in_flight", "peak_in_flight", "connections_opened", "dropped"):
        assert isinstance(body[key], int)
    assert isinstance(body["by_status"], dict)
    assert body["settings"]["latency"] == 0.0
    assert "text_api_key" not in json.dumps(body)
