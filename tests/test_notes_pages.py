"""The HTML pages for notes: forms with validation messages, CSRF-protected."""

from __future__ import annotations

import re


def token(client, path: str = "/notes/new") -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_list_shows_the_notes(client):
    page = client.get("/notes/").get_data(as_text=True)
    assert "Welcome to the sandbox" in page and "3 note(s)" in page
    assert "shared\n<strong>guest</strong>" in page  # nobody is asked who they are


def test_create_with_a_form(client):
    response = client.post(
        "/notes/new",
        data={"title": "From a form", "body": "b", "tags": "a, b", "csrf_token": token(client)},
    )
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "From a form" in page and "Created." in page
    assert client.get("/api/notes?tag=b").json["items"][0]["title"] == "From a form"


def test_a_form_with_mistakes_is_shown_again_with_messages(client):
    response = client.post(
        "/notes/new", data={"title": "", "body": "kept", "csrf_token": token(client)}
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Required" in page or "Must not be empty" in page
    assert ">kept</textarea>" in page  # what the user typed is not lost
    assert client.get("/api/notes").json["total"] == 3


def test_edit_and_delete(client):
    response = client.post(
        "/notes/1", data={"title": "Edited", "tags": "", "csrf_token": token(client, "/notes/1")}
    )
    assert response.status_code == 302
    assert client.get("/api/notes/1").json["title"] == "Edited"
    client.post("/notes/1/delete", data={"csrf_token": token(client, "/notes/1")})
    assert client.get("/api/notes/1").status_code == 404


def test_a_form_without_its_token_is_refused(client):
    response = client.post("/notes/new", data={"title": "forged"}, headers={"Accept": "text/html"})
    assert response.status_code == 400
    assert client.get("/api/notes").json["total"] == 3


def test_titles_are_escaped(client):
    client.post("/api/notes", json={"title": "<script>alert(1)</script>"})
    page = client.get("/notes/").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page


def test_an_unknown_note_is_a_404(client):
    assert client.get("/notes/999").status_code == 404
