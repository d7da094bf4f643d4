"""MTA archive uploads (multipart/form-data): the file part is found however the body is laid out, and a
malformed body is a 400 that says why, never a 500."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import httpx
import pytest

from scp_async.emulator import Emulator

ARCHIVE = b"PK\x03\x04 fake archive\r\n--not-the-boundary\r\n\r\nmore bytes"


@pytest.fixture
async def mta(emu: Emulator) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A client holding a CSRF token, and the files URL of a space."""
    space = next(iter(emu.state.cf_spaces))
    async with emu.client(token=emu.issue_token("cf", user="admin@example.com")) as c:
        fetched = await c.get("/multiapps/api/v1/csrf-token", headers={"X-CSRF-Token": "Fetch"})
        c.headers["X-CSRF-Token"] = fetched.headers["x-csrf-token"]
        yield c, f"/multiapps/api/v1/spaces/{space}/files"


def _part(disposition: str, content: bytes, boundary: bytes = b"B0undary") -> bytes:
    return (
        b"--" + boundary + b"\r\nContent-Disposition: " + disposition.encode() + b"\r\n"
        b"Content-Type: application/octet-stream\r\n\r\n" + content + b"\r\n"
    )


def _form(*parts: bytes, boundary: bytes = b"B0undary") -> bytes:
    return b"".join(parts) + b"--" + boundary + b"--\r\n"


async def test_upload_through_httpx_files(mta: tuple[httpx.AsyncClient, str]) -> None:
    c, url = mta
    r = await c.post(url, files={"file": ("app.mtar", ARCHIVE)}, params={"namespace": "blue"})
    assert r.status_code == 201, r.text
    meta = r.json()
    assert (meta["name"], meta["size"], meta["namespace"]) == ("app.mtar", len(ARCHIVE), "blue")
    assert meta["digest"] == hashlib.md5(ARCHIVE).hexdigest().upper()


def _file(filename: str) -> bytes:
    return _part(f'form-data; name="file"; filename="{filename}"', ARCHIVE)


def _note(text: bytes) -> bytes:
    return _part('form-data; name="note"', text)


@pytest.mark.parametrize(
    ("body", "boundary", "name"),
    [
        # A form field before the file, longer than the 4 KiB the old parser searched for a filename.
        (_form(_note(b"n" * 5000), _file("a.mtar")), "B0undary", "a.mtar"),
        # A field whose text looks like a file's disposition header.
        (_form(_note(b'filename="evil.mtar"'), _file("b.mtar")), "B0undary", "b.mtar"),
        # A quoted-string filename with an escaped quote, and a quoted boundary in the Content-Type.
        (_form(_file('say \\"hi\\".mtar')), '"B0undary"', 'say "hi".mtar'),
        # A CRLF before the first boundary.
        (b"\r\n" + _form(_file("c.mtar")), "B0undary", "c.mtar"),
    ],
)
async def test_the_file_part_is_found(
    mta: tuple[httpx.AsyncClient, str], body: bytes, boundary: str, name: str
) -> None:
    c, url = mta
    r = await c.post(url, content=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 201, r.text
    assert r.json()["name"] == name
    assert r.json()["size"] == len(ARCHIVE)
    assert r.json()["digest"] == hashlib.md5(ARCHIVE).hexdigest().upper()


MALFORMED = "Malformed multipart"


@pytest.mark.parametrize(
    ("body", "content_type", "cause"),
    [
        # Cut short: no closing boundary (the old parser stored whatever had arrived).
        (_file("a.mtar"), None, "no closing boundary"),
        (_form(_file("a.mtar")), "multipart/form-data", "no boundary"),
        (_form(_file("a.mtar")), "multipart/form-data; boundary=other", MALFORMED),
        (_form(_file("a.mtar")).replace(b"\r\n", b"\n"), None, MALFORMED),
        (b"not multipart at all", None, MALFORMED),
        (b"--B0undary\r\nno colon in this header\r\n\r\nx\r\n--B0undary--\r\n", None, MALFORMED),
        (_form(_note(b"text only")), None, "no file part"),
        (b"--B0undary--\r\n", None, "no file part"),
        (_form(_file("a.mtar")), "multipart/form-data; boundary=" + "x" * 300, MALFORMED),
    ],
)
async def test_malformed_uploads_are_400(
    emu: Emulator, mta: tuple[httpx.AsyncClient, str], body: bytes, content_type: str | None, cause: str
) -> None:
    c, url = mta
    before = sum(len(files) for files in emu.state.mta_files.values())
    ctype = content_type or "multipart/form-data; boundary=B0undary"
    r = await c.post(url, content=body, headers={"Content-Type": ctype})
    assert r.status_code == 400, r.text
    assert cause in r.text
    assert sum(len(files) for files in emu.state.mta_files.values()) == before
