"""multipart/form-data uploads, read by python-multipart's streaming parser."""

from __future__ import annotations

from dataclasses import dataclass, field

from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header

from ._http import ApiError


@dataclass(slots=True)
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    data: list[bytes] = field(default_factory=list)


def parts(content_type: str, body: bytes) -> list[_Part]:
    """The parts of a whole multipart ``body``; a malformed one is an :class:`ApiError` 400 saying why."""
    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        raise ApiError(400, "Multipart request has no boundary in its Content-Type")
    out: list[_Part] = []
    name: list[bytes] = []
    value: list[bytes] = []
    finished = False

    def on_header_end() -> None:
        out[-1].headers[b"".join(name).strip().lower()] = b"".join(value).strip()
        name.clear()
        value.clear()

    def on_end() -> None:
        nonlocal finished
        finished = True

    try:
        parser = MultipartParser(
            boundary,
            {
                "on_part_begin": lambda: out.append(_Part()),
                "on_header_field": lambda data, start, end: name.append(data[start:end]),
                "on_header_value": lambda data, start, end: value.append(data[start:end]),
                "on_header_end": on_header_end,
                "on_part_data": lambda data, start, end: out[-1].data.append(data[start:end]),
                "on_end": on_end,
            },
        )
        parser.write(body)
        parser.finalize()
    except FormParserError as exc:
        raise ApiError(400, f"Malformed multipart body: {exc}") from None
    if not finished:  # the parser takes a body cut short for one still arriving
        raise ApiError(400, "Malformed multipart body: no closing boundary")
    return out


def first_file(content_type: str, body: bytes) -> tuple[str, bytes]:
    """``(filename, content)`` of the first part that carries a file (a ``filename`` in its disposition)."""
    for part in parts(content_type, body):
        disposition, options = parse_options_header(part.headers.get(b"content-disposition"))
        filename = options.get(b"filename")
        if disposition == b"form-data" and filename is not None:
            return filename.decode("utf-8", "replace"), b"".join(part.data)
    raise ApiError(400, "Multipart request has no file part")
