"""The server module: httpbin's endpoints under /server/, tried over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections.abc import Iterator

import pytest
import requests
from helpers import LiveServer, playground_path, serve
from requests.auth import HTTPDigestAuth
from werkzeug.http import parse_dict_header

from sandbox import create_app
from sandbox.modules.server.views import MAX_BYTES, seconds

PROBLEM = "application/problem+json"
BODY_KEYS = {"args", "data", "files", "form", "headers", "json", "origin", "url"}


@pytest.fixture(scope="module")
def http(tmp_path_factory) -> Iterator[LiveServer]:
    """One sandbox served over real HTTP, shared by the tests that change no state.

    Stopping a server costs up to half a second (serve_forever polls), so the many
    endpoint tests share this one; tests that switch modules or solve challenges use
    the per-test `live` fixture and start from a clean sandbox.
    """
    data_dir = tmp_path_factory.mktemp("server") / "data"
    app = create_app({"SANDBOX_DATA_DIR": str(data_dir), "TESTING": True})
    with serve(app) as server:
        yield server


def solved(live, challenge_id: str) -> bool:
    """Return whether GET /sandbox/progress shows a challenge solved."""
    challenges = live.get("/sandbox/progress").json()["challenges"]
    return next(c for c in challenges if c["id"] == challenge_id)["solved"]


def events(server, response) -> list[str]:
    """Return the event messages of a response's request record."""
    return [e["message"] for e in server.trace(response)["events"]]


# --- methods ---


@pytest.mark.parametrize(
    ("method", "path", "keys"),
    [
        ("GET", "/server/get", {"args", "headers", "origin", "url"}),
        ("POST", "/server/post", BODY_KEYS),
        ("PUT", "/server/put", BODY_KEYS),
        ("PATCH", "/server/patch", BODY_KEYS),
        ("DELETE", "/server/delete", BODY_KEYS),
        ("GET", "/server/anything", BODY_KEYS | {"method"}),
        ("TRACE", "/server/anything", BODY_KEYS | {"method"}),
        ("PUT", "/server/anything/a/b/c", BODY_KEYS | {"method"}),
        ("DELETE", "/server/anything/x", BODY_KEYS | {"method"}),
    ],
)
def test_methods_echo_httpbins_keys(http, method, path, keys):
    response = http.request(method, path + "?q=1")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == keys
    assert body["args"] == {"q": "1"}
    assert body["url"] == http.url + path + "?q=1"
    assert body["origin"] == "127.0.0.1"
    assert body["headers"]["Host"] == http.url.removeprefix("http://")
    if "method" in keys:
        assert body["method"] == method


def test_a_method_route_refuses_other_methods(http):
    response = http.get("/server/post")
    assert response.status_code == 405
    assert response.headers["Content-Type"] == PROBLEM


def test_post_echoes_json_body(http):
    body = http.post("/server/post", json={"name": "Ada", "langs": ["en"]}).json()
    assert body["json"] == {"name": "Ada", "langs": ["en"]}
    assert json.loads(body["data"]) == body["json"]
    assert body["form"] == {} and body["files"] == {}


def test_post_echoes_form_and_repeated_fields(http):
    body = http.post("/server/post?a=1&a=2", data={"x": ["1", "2"], "y": "3"}).json()
    assert body["form"] == {"x": ["1", "2"], "y": "3"}
    assert body["args"] == {"a": ["1", "2"]}
    assert body["data"] == "" and body["json"] is None


def test_post_echoes_files(http):
    files = {"note": ("note.txt", b"hello", "text/plain"), "blob": ("b.bin", b"\xff\x00", "x/y")}
    body = http.post("/server/post", files=files, data={"k": "v"}).json()
    assert body["files"] == {"note": "hello", "blob": "data:x/y;base64,/wA="}
    assert body["form"] == {"k": "v"}


def test_binary_body_is_shown_as_a_data_url(http):
    body = http.request("PUT", "/server/put", data=b"\xff\xfe").json()
    assert body["data"] == "data:application/octet-stream;base64,//4="
    assert body["json"] is None


# --- inspection ---


def test_headers_are_echoed_title_case(http):
    response = http.get("/server/headers", headers={"x-my-header": "yes"})
    headers = response.json()["headers"]
    assert headers["X-My-Header"] == "yes"
    assert "User-Agent" in headers


def test_proxy_headers_are_hidden_unless_show_env(http):
    sent = {"X-Forwarded-For": "10.1.2.3", "Via": "1.1 proxy"}
    assert "Via" not in http.get("/server/headers", headers=sent).json()["headers"]
    assert "Via" in http.get("/server/headers?show_env=1", headers=sent).json()["headers"]
    assert http.get("/server/ip", headers=sent).json() == {"origin": "10.1.2.3"}


def test_ip_and_user_agent(http):
    assert http.get("/server/ip").json() == {"origin": "127.0.0.1"}
    response = http.get("/server/user-agent", headers={"User-Agent": "curious/1.0"})
    assert response.json() == {"user-agent": "curious/1.0"}


def test_cross_origin_reads_are_allowed_without_credentials(http):
    assert http.get("/server/get").headers["Access-Control-Allow-Origin"] == "*"
    preflight = http.request(
        "OPTIONS", "/server/post", headers={"Access-Control-Request-Headers": "X-A"}
    )
    assert preflight.headers["Access-Control-Allow-Headers"] == "X-A"
    assert "Access-Control-Allow-Credentials" not in preflight.headers


# --- status codes ---


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("code", [200, 201, 204, 400, 404, 500, 503])
def test_status_answers_the_code(http, method, code):
    response = http.request(method, f"/server/status/{code}")
    assert response.status_code == code
    assert response.content == b""


def test_status_402_says_pay_me(http):
    response = http.get("/server/status/402")
    assert response.text == "F*ck you, pay me!"
    assert response.headers["x-more-info"] == "http://vimeo.com/22053820"


def test_status_418_is_a_teapot(http):
    response = http.get("/server/status/418")
    assert response.status_code == 418
    assert "teapot" in response.text
    assert response.headers["x-more-info"] == "http://tools.ietf.org/html/rfc2324"


@pytest.mark.parametrize("code", [301, 302, 303, 305, 307])
def test_status_redirects_point_to_redirect_1(http, code):
    response = http.get(f"/server/status/{code}", allow_redirects=False)
    assert response.status_code == code
    assert response.headers["Location"] == "/server/redirect/1"


@pytest.mark.parametrize(
    ("code", "header", "value"),
    [
        (401, "WWW-Authenticate", 'Basic realm="Fake Realm"'),
        (407, "Proxy-Authenticate", 'Basic realm="Fake Realm"'),
        (406, "Content-Type", "application/json"),
    ],
)
def test_status_adds_the_header_the_code_needs(http, code, header, value):
    response = http.get(f"/server/status/{code}")
    assert response.status_code == code
    assert response.headers[header] == value


def test_weighted_status_list(http):
    assert http.get("/server/status/200:0,404:1").status_code == 404
    seen = {http.get("/server/status/201,202,203").status_code for _ in range(20)}
    assert seen <= {201, 202, 203} and len(seen) > 1
    response = http.get("/server/status/200:0.5,404:0.5")
    assert f"picked {response.status_code}" in " ".join(events(http, response))


# --- redirects ---


@pytest.mark.parametrize("kind", ["redirect", "relative-redirect", "absolute-redirect"])
@pytest.mark.parametrize("n", [1, 3])
def test_redirect_chains_end_at_get(http, kind, n):
    response = http.get(f"/server/{kind}/{n}")
    assert response.status_code == 200
    assert response.url == http.url + "/server/get"
    assert len(response.history) == n
    assert all(r.status_code == 302 for r in response.history)


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/server/redirect/3", "/server/relative-redirect/2"),
        ("/server/redirect/1", "/server/get"),
        ("/server/relative-redirect/2", "/server/relative-redirect/1"),
        ("/server/redirect/3?absolute=true", "{url}/server/absolute-redirect/2"),
        ("/server/absolute-redirect/2", "{url}/server/absolute-redirect/1"),
        ("/server/absolute-redirect/1", "{url}/server/get"),
    ],
)
def test_redirect_locations_are_relative_or_absolute(http, path, location):
    response = http.get(path, allow_redirects=False)
    assert response.status_code == 302
    assert response.headers["Location"] == location.format(url=http.url)


def test_redirect_records_each_hop(http):
    response = http.get("/server/redirect/2", allow_redirects=False)
    assert "redirect 2 -> 1" in events(http, response)


def test_redirect_to(http):
    response = http.get("/server/redirect-to?url=/server/get&x=1", allow_redirects=False)
    assert (response.status_code, response.headers["Location"]) == (302, "/server/get")
    response = http.request(
        "DELETE",
        "/server/redirect-to?url=http://example.com/&status_code=307",
        allow_redirects=False,
    )
    assert (response.status_code, response.headers["Location"]) == (307, "http://example.com/")


def test_redirect_to_307_keeps_the_method_and_body(http):
    response = http.post("/server/redirect-to?url=/server/post&status_code=307", json={"a": 1})
    assert response.status_code == 200
    assert response.json()["json"] == {"a": 1}


def test_redirect_under_a_url_prefix_keeps_the_prefix(app):
    # A proxy such as jupyter-server-proxy serves the app under a prefix (SCRIPT_NAME).
    client = app.test_client()
    prefix = "http://localhost/user/x/proxy/5000"
    response = client.get("/server/redirect/2", base_url=prefix)
    assert response.headers["Location"] == "/user/x/proxy/5000/server/relative-redirect/1"
    response = client.get("/server/absolute-redirect/1", base_url=prefix)
    assert response.headers["Location"] == prefix + "/server/get"
    response = client.get("/server/status/302", base_url=prefix)
    assert response.headers["Location"] == "/user/x/proxy/5000/server/redirect/1"
    response = client.get("/server/cookies/set?a=b", base_url=prefix)
    assert response.headers["Location"] == "/user/x/proxy/5000/server/cookies"
    page = client.get("/server/links/2/0", base_url=prefix).get_data(as_text=True)
    assert "href='/user/x/proxy/5000/server/links/2/1'" in page


# --- cookies ---


def test_cookies_set_read_delete(http):
    with requests.Session() as session:  # a Session keeps cookies, like a browser
        response = session.get(http.url + "/server/cookies/set?theme=dark&lang=en")
        assert response.url == http.url + "/server/cookies"
        assert response.history[0].status_code == 302
        assert response.json() == {"cookies": {"theme": "dark", "lang": "en"}}
        response = session.get(http.url + "/server/cookies/set/size/large")
        assert response.json()["cookies"]["size"] == "large"
        response = session.get(http.url + "/server/cookies/delete?theme&size")
        assert response.json() == {"cookies": {"lang": "en"}}
        assert "cookie 'theme' deleted" in " ".join(events(http, response.history[0]))


def test_cookie_events_name_the_cookie(http):
    # requests.get, not the shared session: the cookie must not stay for later tests.
    response = requests.get(http.url + "/server/cookies/set?theme=dark", allow_redirects=False)
    assert "cookie 'theme' set" in events(http, response)
    assert "dark" not in " ".join(events(http, response))


def test_tracking_cookies_are_hidden_unless_show_env(http):
    cookies = {"__utma": "1", "mine": "2"}
    url = http.url + "/server/cookies"
    assert requests.get(url, cookies=cookies).json() == {"cookies": {"mine": "2"}}
    shown = requests.get(url + "?show_env=1", cookies=cookies).json()["cookies"]
    assert shown == cookies


# --- auth ---


def test_basic_auth(http):
    path = "/server/basic-auth/alice/s3cret"
    response = http.get(path, auth=("alice", "s3cret"))
    assert response.json() == {"authenticated": True, "user": "alice"}
    trace = http.trace(response)
    assert trace["request"]["headers"]["Authorization"] == "Basic [redacted]"
    assert "basic auth: user 'alice' accepted" in [e["message"] for e in trace["events"]]
    assert "s3cret" not in json.dumps(trace["events"])
    for auth in [("alice", "wrong"), ("bob", "s3cret"), None]:
        response = http.get(path, auth=auth)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == 'Basic realm="Fake Realm"'


def test_hidden_basic_auth_answers_404(http):
    path = "/server/hidden-basic-auth/alice/s3cret"
    assert http.get(path, auth=("alice", "s3cret")).json()["authenticated"] is True
    response = http.get(path, auth=("alice", "nope"))
    assert response.status_code == 404
    assert "WWW-Authenticate" not in response.headers


def test_bearer(http):
    response = http.get("/server/bearer")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert http.get("/server/bearer", headers={"Authorization": "Basic abc"}).status_code == 401
    response = http.get("/server/bearer", headers={"Authorization": "Bearer tok-123"})
    assert response.json() == {"authenticated": True, "token": "tok-123"}
    assert "tok-123" not in json.dumps(http.trace(response))


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256", "SHA-512"])
def test_digest_auth_with_requests(http, algorithm):
    path = f"/server/digest-auth/auth/alice/s3cret/{algorithm}"
    response = http.get(path, auth=HTTPDigestAuth("alice", "s3cret"))
    assert response.status_code == 200
    assert response.json() == {"authenticated": True, "user": "alice"}
    assert f"algorithm={algorithm}" in response.history[0].headers["WWW-Authenticate"]
    assert http.get(path, auth=HTTPDigestAuth("alice", "wrong")).status_code == 401
    assert http.get(path, auth=HTTPDigestAuth("bob", "s3cret")).status_code == 401


def test_digest_auth_defaults_to_md5(http):
    path = "/server/digest-auth/auth/alice/s3cret"
    response = http.get(path + "?page=2", auth=HTTPDigestAuth("alice", "s3cret"))
    assert response.status_code == 200
    assert "algorithm=MD5" in response.history[0].headers["WWW-Authenticate"]
    trace = http.trace(response)
    assert trace["request"]["headers"]["Authorization"] == "Digest [redacted]"
    assert "s3cret" not in json.dumps(trace["events"])  # (it is in the URL, by design)


def _digest(challenge: str, user: str, passwd: str, method: str, uri: str, **override) -> str:
    """Answer a Digest challenge by hand (requests cannot do qop=auth-int)."""
    c = parse_dict_header(challenge.removeprefix("Digest "))
    algorithm = c["algorithm"]
    name = {"MD5": "md5", "SHA-256": "sha256", "SHA-512": "sha512"}[algorithm]

    def h(data: str | bytes) -> str:
        return hashlib.new(name, data.encode() if isinstance(data, str) else data).hexdigest()

    nonce, realm, qop = override.get("nonce", c["nonce"]), c["realm"], c["qop"]
    a2 = f"{method}:{uri}"
    if qop == "auth-int":
        a2 += ":" + h(override.get("body", b""))
    ha1 = h(f"{user}:{realm}:{passwd}")
    response = h(f"{ha1}:{nonce}:00000001:abc:{qop}:{h(a2)}")
    return (
        f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
        f'response="{response}", qop={qop}, nc=00000001, cnonce="abc", '
        f'algorithm={algorithm}, opaque="{c["opaque"]}"'
    )


def test_digest_auth_int_hashes_the_body(http):
    path = "/server/digest-auth/auth-int/alice/s3cret/SHA-256"
    challenge = http.get(path).headers["WWW-Authenticate"]
    assert 'qop="auth-int"' in challenge
    good = _digest(challenge, "alice", "s3cret", "GET", path)
    assert http.get(path, headers={"Authorization": good}).status_code == 200
    # The body is part of the hash: the same header with a different body fails.
    assert http.get(path, headers={"Authorization": good}, data=b"x").status_code == 401


@pytest.mark.parametrize(
    "override",
    [
        {"nonce": "1.abc.0123456789abcdef0123456789abcdef"},  # a nonce we did not sign
        {"nonce": "not-a-nonce"},
    ],
)
def test_digest_auth_refuses_forged_nonces(http, override):
    path = "/server/digest-auth/auth/alice/s3cret"
    challenge = http.get(path).headers["WWW-Authenticate"]
    header = _digest(challenge, "alice", "s3cret", "GET", path, **override)
    response = http.get(path, headers={"Authorization": header})
    assert response.status_code == 401
    assert any("nonce was not issued" in e for e in events(http, response))


def test_digest_auth_refuses_another_uri(http):
    path = "/server/digest-auth/auth/alice/s3cret"
    challenge = http.get(path).headers["WWW-Authenticate"]
    header = _digest(challenge, "alice", "s3cret", "GET", "/server/get")
    assert http.get(path, headers={"Authorization": header}).status_code == 401


def test_digest_auth_sets_httpbins_cookies(http):
    path = "/server/digest-auth/auth/alice/s3cret/MD5/never"
    with requests.Session() as client:
        challenge = client.get(http.url + path)
        assert challenge.status_code == 401
        assert "stale=false" in challenge.headers["WWW-Authenticate"]
        assert client.cookies["fake"] == "fake_value"
        assert client.cookies["stale_after"] == "never"
        response = client.get(http.url + path, auth=HTTPDigestAuth("alice", "s3cret"))
        assert response.json() == {"authenticated": True, "user": "alice"}
        assert response.cookies["fake"] == "fake_value"


def test_digest_auth_turns_stale_after_n_logins(http):
    path = "/server/digest-auth/auth/alice/s3cret/SHA-256/2"
    with requests.Session() as client:
        header = _digest(client.get(http.url + path).headers["WWW-Authenticate"], "alice",
                         "s3cret", "GET", path)  # fmt: skip
        assert client.cookies["stale_after"] == "2"
        # The same nonce (with its count) works while stale_after counts down: 2, 1, then 0.
        assert client.get(http.url + path, headers={"Authorization": header}).status_code == 200
        assert client.cookies["stale_after"] == "1"
        assert client.get(http.url + path, headers={"Authorization": header}).status_code == 200
        assert client.cookies["stale_after"] == "0"
        stale = client.get(http.url + path, headers={"Authorization": header})
        assert stale.status_code == 401
        assert "stale=true" in stale.headers["WWW-Authenticate"]
        assert any("stale challenge" in e for e in events(http, stale))


def test_digest_auth_a_refused_nonce_is_stale_next_time(http):
    path = "/server/digest-auth/auth/alice/s3cret"
    with requests.Session() as client:
        challenge = client.get(http.url + path).headers["WWW-Authenticate"]
        wrong = _digest(challenge, "alice", "wrong", "GET", path)
        assert client.get(http.url + path, headers={"Authorization": wrong}).status_code == 401
        right = _digest(challenge, "alice", "s3cret", "GET", path)  # the same, used-up nonce
        again = client.get(http.url + path, headers={"Authorization": right})
        assert again.status_code == 401 and "stale=true" in again.headers["WWW-Authenticate"]


def test_digest_auth_require_cookie(http):
    path = "/server/digest-auth/auth/alice/s3cret/MD5/never?require-cookie=1"
    challenge = requests.get(http.url + path).headers["WWW-Authenticate"]
    header = _digest(challenge, "alice", "s3cret", "GET", path.partition("?")[0])
    # A client that drops the challenge's cookies is challenged again, or refused.
    lost = requests.get(http.url + path, headers={"Authorization": header})
    assert lost.status_code == 401
    other = requests.get(http.url + path, headers={"Authorization": header, "Cookie": "a=b"})
    assert other.status_code == 403
    assert other.json() == {"errors": ["missing cookie set on challenge"]}
    with requests.Session() as client:  # a session keeps them: it passes
        response = client.get(http.url + path, auth=HTTPDigestAuth("alice", "s3cret"))
        assert response.status_code == 200


# --- caching ---


def test_cache_answers_304_to_conditional_requests(http):
    response = http.get("/server/cache")
    assert response.status_code == 200
    assert set(response.json()) == {"args", "headers", "origin", "url"}
    assert response.headers["Last-Modified"] and response.headers["ETag"]
    for header in ("If-Modified-Since", "If-None-Match"):
        again = http.get("/server/cache", headers={header: response.headers["ETag"]})
        assert again.status_code == 304
        assert again.content == b""


def test_cache_control(http):
    response = http.get("/server/cache/60")
    assert response.headers["Cache-Control"] == "public, max-age=60"
    assert response.json()["url"].endswith("/server/cache/60")


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 200),
        ({"If-None-Match": '"abc"'}, 304),
        ({"If-None-Match": "abc"}, 304),
        ({"If-None-Match": 'W/"abc"'}, 304),
        ({"If-None-Match": '"x", "abc"'}, 304),
        ({"If-None-Match": "*"}, 304),
        ({"If-None-Match": '"other"'}, 200),
        ({"If-Match": '"abc"'}, 200),
        ({"If-Match": "*"}, 200),
        ({"If-Match": '"other"'}, 412),
        ({"If-None-Match": '"other"', "If-Match": '"other"'}, 200),  # httpbin: elif
    ],
)
def test_etag(http, headers, status):
    response = http.get("/server/etag/abc", headers=headers)
    assert response.status_code == status
    if status != 412:
        assert response.headers["ETag"] == '"abc"'


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_response_headers(http, method):
    response = http.request(method, "/server/response-headers?X-Color=blue&X-Color=red&Z=1")
    assert response.status_code == 200
    assert response.headers["X-Color"] == "blue, red"  # requests joins repeated headers
    body = response.json()
    assert body["X-Color"] == ["blue", "red"] and body["Z"] == "1"
    assert body["Content-Length"] == response.headers["Content-Length"]
    assert int(body["Content-Length"]) == len(response.content)


def test_response_headers_can_set_the_content_type(http):
    response = http.get("/server/response-headers?Content-Type=text/plain")
    assert response.headers["Content-Type"] == "text/plain"


# --- formats ---


@pytest.mark.parametrize(
    ("path", "content_type", "snippet"),
    [
        ("/server/json", "application/json", '"title": "Sample Slide Show"'),
        ("/server/html", "text/html; charset=utf-8", "Herman Melville - Moby-Dick"),
        ("/server/xml", "application/xml", "<slideshow"),
        ("/server/encoding/utf8", "text/html; charset=utf-8", "我能吞下玻璃而不伤身体"),
        ("/server/robots.txt", "text/plain", "Disallow: /deny"),
        ("/server/deny", "text/plain", "YOU SHOULDN'T BE HERE"),
    ],
)
def test_formats(http, path, content_type, snippet):
    response = http.get(path)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == content_type
    assert snippet in response.content.decode("utf-8")


@pytest.mark.parametrize(
    ("path", "content_type", "magic"),
    [
        ("/server/image/png", "image/png", b"\x89PNG"),
        ("/server/image/jpeg", "image/jpeg", b"\xff\xd8\xff"),
        ("/server/image/webp", "image/webp", b"RIFF"),
        ("/server/image/svg", "image/svg+xml", b"<svg"),
    ],
)
def test_images(http, path, content_type, magic):
    response = http.get(path)
    assert response.headers["Content-Type"] == content_type
    assert response.content.startswith(magic)


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        (None, "image/png"),
        ("image/webp,*/*", "image/webp"),
        ("image/svg+xml", "image/svg+xml"),
        ("image/jpeg", "image/jpeg"),
        ("image/*", "image/png"),
    ],
)
def test_image_follows_the_accept_header(http, accept, content_type):
    headers = {"Accept": accept} if accept else {}
    if accept is None:  # requests sends Accept: */* unless told not to
        headers["Accept"] = None
    assert http.get("/server/image", headers=headers).headers["Content-Type"] == content_type


def test_image_without_an_image_type_is_406(http):
    response = http.get("/server/image", headers={"Accept": "text/html"})
    assert response.status_code == 406
    assert "image/webp" in response.json()["accept"]


def test_json_is_httpbins_slideshow(http):
    slideshow = http.get("/server/json").json()["slideshow"]
    assert slideshow["author"] == "Yours Truly"
    assert [s["title"] for s in slideshow["slides"]] == ["Wake up to WonderWidgets!", "Overview"]


@pytest.mark.parametrize(
    ("path", "encoding", "flag"),
    [
        ("/server/gzip", "gzip", "gzipped"),
        ("/server/deflate", "deflate", "deflated"),
        ("/server/brotli", "br", "brotli"),
    ],
)
def test_compressed_bodies_are_decoded_by_requests(http, path, encoding, flag):
    response = http.get(path)
    assert response.headers["Content-Encoding"] == encoding
    body = response.json()  # requests undid the compression
    assert body[flag] is True
    assert body["method"] == "GET" and "headers" in body and "origin" in body


# --- dynamic data ---


def test_uuid(http):
    value = http.get("/server/uuid").json()["uuid"]
    assert uuid.UUID(value).version == 4


@pytest.mark.parametrize("text", ["hello", "HTTPBIN is awesome", "ünïcødé ✓", "a?b/c"])
def test_base64_decodes_url_safe_values(http, text):
    encoded = base64.urlsafe_b64encode(text.encode()).decode()
    response = http.get(f"/server/base64/{encoded}")
    assert response.text == text
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"  # as httpbin
    assert http.get(f"/server/base64/{encoded.rstrip('=')}").text == text  # padding optional


def test_bytes_length_and_seed(http):
    assert len(http.get("/server/bytes/1000").content) == 1000
    first = http.get("/server/bytes/64?seed=42").content
    assert http.get("/server/bytes/64?seed=42").content == first
    assert http.get("/server/bytes/64?seed=43").content != first
    assert len(http.get(f"/server/bytes/{MAX_BYTES + 1}").content) == MAX_BYTES  # clamped


def test_stream_bytes(http):
    response = http.get("/server/stream-bytes/1000?chunk_size=100&seed=7", stream=True)
    assert response.headers.get("Transfer-Encoding") == "chunked"
    chunks = list(response.iter_content(chunk_size=None))
    data = b"".join(chunks)
    assert len(data) == 1000
    assert data == http.get("/server/bytes/1000?seed=7").content  # same generator as bytes


@pytest.mark.parametrize(("n", "lines"), [(0, 0), (1, 1), (5, 5), (150, 100)])
def test_stream_lines(http, n, lines):
    response = http.get(f"/server/stream/{n}", stream=True)
    found = [json.loads(line) for line in response.iter_lines() if line]
    assert len(found) == lines
    assert [d["id"] for d in found] == list(range(lines))
    if found:
        assert set(found[0]) == {"args", "headers", "origin", "url", "id"}


ALL = "abcdefghijklmnopqrstuvwxyzabcd"


@pytest.mark.parametrize(
    ("range_header", "status", "content", "content_range"),
    [
        (None, 200, ALL, "bytes 0-29/30"),  # on a 200 too, as httpbin sends it
        ("bytes=0-9", 206, "abcdefghij", "bytes 0-9/30"),
        ("bytes=26-", 206, "abcd", "bytes 26-29/30"),
        ("bytes=-3", 206, "bcd", "bytes 27-29/30"),
        ("bytes=28-100", 206, "cd", "bytes 28-29/30"),
        ("bytes=0-29", 200, ALL, "bytes 0-29/30"),
        ("items=0-1", 200, ALL, "bytes 0-29/30"),  # unknown unit: ignored
        ("bytes=0-1,5-6", 200, ALL, "bytes 0-29/30"),  # several ranges: ignored
        ("bytes=abc", 200, ALL, "bytes 0-29/30"),  # unreadable: ignored (RFC 9110 14.2)
        ("bytes=-", 200, ALL, "bytes 0-29/30"),
    ],
)
def test_range(http, range_header, status, content, content_range):
    headers = {"Range": range_header} if range_header else {}
    response = http.get("/server/range/30", headers=headers)
    assert response.status_code == status
    assert response.text == content
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["ETag"] == "range30"
    assert response.headers["Content-Range"] == content_range


@pytest.mark.parametrize("range_header", ["bytes=30-", "bytes=5-1", "bytes=-0", "bytes=99-100"])
def test_a_range_outside_the_resource_is_a_416_problem(http, range_header):
    response = http.get("/server/range/30", headers={"Range": range_header})
    problem = response.json()
    assert response.status_code == 416 and response.headers["Content-Type"] == PROBLEM
    assert problem["title"] == "Range not satisfiable" and "bytes=0-9" in problem["detail"]
    assert response.headers["Content-Range"] == "bytes */30"  # the real size, for a retry
    assert response.headers["ETag"] == "range30"


@pytest.mark.parametrize("n", ["0", str(MAX_BYTES + 1)])
def test_range_has_no_resource_of_that_size(http, n):
    response = http.get(f"/server/range/{n}")
    assert response.status_code == 404 and response.headers["Content-Type"] == PROBLEM
    assert response.headers["ETag"] == f"range{n}"  # httpbin's headers on its 404


def test_drip(http):
    started = time.monotonic()
    response = http.get("/server/drip?duration=0.5&numbytes=5&code=201&delay=0.2")
    elapsed = time.monotonic() - started
    assert response.status_code == 201
    assert response.content == b"*****"
    assert 0.6 <= elapsed < 3


def test_drip_streams_the_bytes_as_they_come(http):
    response = http.get("/server/drip?duration=0.6", stream=True)  # 10 bytes by default
    first = next(response.iter_content(chunk_size=1))
    first_at = time.monotonic()
    rest = response.raw.read()
    # Buffered, everything would arrive at once; dripped, the rest comes over the duration.
    assert time.monotonic() - first_at >= 0.4
    assert first + rest == b"*" * 10


def test_delay(http):
    started = time.monotonic()
    response = http.post("/server/delay/0.4", data={"a": "1"})
    assert 0.4 <= time.monotonic() - started < 3
    assert set(response.json()) == BODY_KEYS - {"json"}
    assert response.json()["form"] == {"a": "1"}
    assert "delay: waited 0.4 s before answering" in events(http, response)


def test_waits_are_clamped_to_ten_seconds(app):
    with app.test_request_context():
        assert seconds("2.5", "n") == 2.5
        assert seconds("1e9", "n") == 10


def test_links(http):
    response = http.get("/server/links/5")
    assert response.history[0].status_code == 302
    assert response.url == http.url + "/server/links/5/0"
    page = response.text
    assert page.count("<a href=") == 4
    assert "<a href='/server/links/5/3'>3</a>" in page
    assert "<a href='/server/links/5/0'>" not in page  # the current page is not a link


# --- bad input: always a 400 problem, never a 500 ---


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("GET", "/server/status/abc", {}),
        ("GET", "/server/status/99", {}),
        ("GET", "/server/status/600", {}),
        ("GET", "/server/status/200:x,404", {}),
        ("GET", "/server/status/200:-1", {}),
        ("GET", "/server/status/200:0,404:0", {}),
        ("GET", "/server/status/200:nan", {}),
        ("POST", "/server/status/,", {}),
        ("GET", "/server/redirect/0", {}),
        ("GET", "/server/redirect/101", {}),
        ("GET", "/server/redirect/abc", {}),
        ("GET", "/server/relative-redirect/-1", {}),
        ("GET", "/server/absolute-redirect/1.5", {}),
        ("GET", "/server/redirect-to", {}),
        ("GET", "/server/redirect-to?url=javascript:alert(1)", {}),
        ("GET", "/server/redirect-to?url=JavaScript:alert(1)", {}),
        ("GET", "/server/redirect-to?url=data:text/html,hi", {}),
        ("GET", "/server/redirect-to?url=http://a/%0D%0ASet-Cookie:x=1", {}),
        ("GET", "/server/redirect-to?url=http://[::1", {}),
        ("GET", "/server/redirect-to?url=/server/get&status_code=abc", {}),
        ("GET", "/server/cookies/set?bad%20name=1", {}),
        ("GET", "/server/cookies/set/a=b/c", {}),
        ("GET", "/server/digest-auth/auth/u/p/SHA-1", {}),
        ("GET", "/server/digest-auth/nope/u/p", {}),
        ("GET", "/server/digest-auth/auth/u/p/MD4/never", {}),
        ("GET", "/server/stream-bytes/10?chunk_size=x", {}),
        ("GET", "/server/cookies/set?a%3Db=1", {}),
        ("GET", "/server/response-headers?Set-Cookie=novalue", {}),
        ("GET", "/server/cache/abc", {}),
        ("GET", "/server/cache/-1", {}),
        ("GET", "/server/etag/a%22b", {}),
        ("GET", "/server/response-headers?X-A=a%0D%0AX-B:%20b", {}),
        ("GET", "/server/response-headers?Content-Length=5", {}),
        ("GET", "/server/response-headers?bad%20name=1", {}),
        ("GET", "/server/base64/!!!!", {}),
        ("GET", "/server/base64/a", {}),
        ("GET", "/server/base64/_w", {}),  # valid base64, but not UTF-8
        ("GET", "/server/bytes/abc", {}),
        ("GET", "/server/bytes/-1", {}),
        ("GET", "/server/bytes/10?seed=x", {}),
        ("GET", "/server/stream/abc", {}),
        ("GET", "/server/range/abc", {}),
        ("GET", "/server/range/10?duration=x", {}),
        ("GET", "/server/drip?numbytes=0", {}),
        ("GET", "/server/drip?numbytes=x", {}),
        ("GET", "/server/drip?duration=-1", {}),
        ("GET", "/server/drip?delay=inf", {}),
        ("GET", "/server/drip?code=99", {}),
        ("GET", "/server/links/x", {}),
        ("GET", "/server/links/5/-1", {}),
        ("GET", "/server/delay/abc", {}),
        ("PUT", "/server/delay/-1", {}),
        ("GET", "/server/delay/nan", {}),
    ],
)
def test_bad_input_is_a_400_problem(http, method, path, headers):
    response = http.request(method, path, headers=headers)
    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == 400 and problem["detail"]


@pytest.mark.parametrize(
    ("path", "title"),
    [
        ("/server/status/abc", "Invalid path parameter"),
        ("/server/bytes/-1", "Invalid path parameter"),
        ("/server/base64/!!!!", "Invalid path parameter"),
        ("/server/cookies/set/a=b/c", "Invalid path parameter"),
        ("/server/delay/nan", "Invalid path parameter"),
        ("/server/bytes/10?seed=x", "Invalid query parameter"),
        ("/server/drip?numbytes=x", "Invalid query parameter"),
        ("/server/drip?delay=inf", "Invalid query parameter"),
        ("/server/redirect-to?url=javascript:alert(1)", "Invalid query parameter"),
        ("/server/response-headers?bad%20name=1", "Invalid query parameter"),
    ],
)
def test_a_problem_says_which_part_of_the_request_is_wrong(http, path, title):
    problem = http.get(path).json()
    assert problem["title"] == title, problem


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/server/redirect-to?url=/server/get&status_code=200", 302),  # not a 3xx: 302
        ("/server/redirect-to?URL=/server/get&Status_Code=307", 307),  # any case, as httpbin
        ("/server/stream-bytes/10?chunk_size=0", 200),  # less than 1 byte a chunk: 1
        ("/server/bytes/4?SEED=1", 200),
    ],
)
def test_arguments_httpbin_accepts_are_accepted(http, path, expected):
    assert http.get(path, allow_redirects=False).status_code == expected


# --- the module switch ---


def test_module_off_every_route_answers_404_problem(live):
    rules = [r for r in live.app.url_map.iter_rules() if r.endpoint.startswith("server.")]
    assert len(rules) > 40
    off = live.request("PATCH", "/sandbox/modules/server", json={"enabled": False})
    assert off.status_code == 200 and off.json()["enabled"] is False
    for rule in rules:
        method = sorted(rule.methods - {"HEAD", "OPTIONS"})[0]
        response = live.request(method, playground_path(rule), allow_redirects=False)
        assert response.status_code == 404, rule.rule
        assert response.headers["Content-Type"] == PROBLEM
        assert response.json()["module"] == "server"
    live.request("PATCH", "/sandbox/modules/server", json={"enabled": True})
    assert live.get("/server/get").status_code == 200


# --- challenges ---


def test_challenge_teapot(live):
    live.get("/server/status/418")
    assert solved(live, "server.teapot")


def test_challenge_redirects(live):
    live.get("/server/redirect/2")  # two hops are not enough
    assert not solved(live, "server.redirects")
    response = live.get("/server/redirect/3")
    assert len(response.history) == 3
    assert solved(live, "server.redirects")


def test_challenge_redirects_counts_hops_with_other_pages_requests_in_between(live):
    # A learner's browser tab polls the sandbox while the hops happen: the chain still counts.
    url = "/server/redirect/3"
    for _ in range(3):
        hop = live.get(url, allow_redirects=False)
        assert 300 <= hop.status_code < 400
        live.get("/api/notes")  # another page's request lands between the hops
        url = hop.headers["Location"]
    assert live.get(url).status_code == 200
    assert solved(live, "server.redirects")


def test_challenge_redirects_is_not_ended_by_a_get_after_other_playground_requests(live):
    live.get("/server/redirect/3", allow_redirects=False)
    live.get("/server/relative-redirect/2", allow_redirects=False)
    live.get("/server/relative-redirect/1", allow_redirects=False)
    live.get("/server/headers")  # the chain broke off: this GET does not end it
    live.get("/server/get")
    assert not solved(live, "server.redirects")


def test_challenge_redirects_absolute(live):
    live.get("/server/absolute-redirect/3")
    assert solved(live, "server.redirects")


def test_challenge_headers(live):
    live.get("/server/headers", headers={"X-Requested-With": "XMLHttpRequest"})
    assert not solved(live, "server.headers")
    live.get("/server/headers", headers={"X-Mood": "curious"})
    assert solved(live, "server.headers")


def test_challenge_cookies(live):
    live.get("/server/cookies", cookies={"other": "1"})  # a cookie nobody set here
    assert not solved(live, "server.cookies")
    response = live.get("/server/cookies/set?theme=dark")
    assert response.json()["cookies"]["theme"] == "dark"
    assert solved(live, "server.cookies")


def test_challenge_cookies_from_the_path(live):
    live.get("/server/cookies/set/flavour/mint")
    assert solved(live, "server.cookies")


def test_challenge_basic_auth(live):
    live.get("/server/basic-auth/alice/secret", auth=("alice", "wrong"))
    assert not solved(live, "server.basic_auth")
    live.get("/server/hidden-basic-auth/alice/secret", auth=("alice", "secret"))
    assert solved(live, "server.basic_auth")


def test_challenge_json_post(live):
    live.post("/server/post", data={"name": "Ada"})
    assert not solved(live, "server.json_post")
    live.post("/server/post", json={"name": "Ada"})
    assert solved(live, "server.json_post")


def test_challenge_module_off(live):
    live.get("/server/status/404")  # a 404 from a working route is not the module switch
    live.get("/server/hidden-basic-auth/a/b")
    assert not solved(live, "server.module_off")
    live.request("PATCH", "/sandbox/modules/server", json={"enabled": False})
    response = live.get("/server/get")
    assert response.status_code == 404
    live.request("PATCH", "/sandbox/modules/server", json={"enabled": True})
    assert solved(live, "server.module_off")
