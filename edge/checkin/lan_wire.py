"""The LAN check-in on the wire: strict HTTP/1.1 request parsing and JSON reply encoding.

Pure (bytes in, values out), so every rule is fuzzed and tested without a
socket; the endpoint (lan.py) does the reading, writing, timing and counting.
Everything here is untrusted input: the subset accepted is small and strict
(RFC 9112 without its lenient parts). A refusal is a `Reply` carrying a short
JSON error, or `BadHead` / ValueError, which the endpoint turns into one.
"""

from __future__ import annotations

import http
import json
import re
from dataclasses import dataclass, replace
from typing import Any

from edge.errors import EdgeError
from edge.signed import no_duplicate_keys

MAX_HEADERS = 64
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 token
_VERSION = re.compile(r"HTTP/1\.[01]")
_DIGITS = re.compile(r"[0-9]{1,18}")


@dataclass(frozen=True)
class Reply:
    """What to answer, and which counter the outcome adds to."""

    status: int
    body: dict[str, Any]
    outcome: str  # the counter it adds to
    headers: tuple[tuple[str, str], ...] = ()
    linger: bool = False  # the request was not read to its end


def error_reply(status: int, error: str, detail: str, outcome: str | None = None) -> Reply:
    """A refusal sent before the request was read to its end (so the endpoint lingers)."""
    return Reply(status, {"error": error, "detail": detail}, outcome or error, linger=True)


class BadHead(EdgeError, ValueError):
    """The request head is not the strict HTTP/1.1 subset served here; says what is wrong."""


@dataclass(frozen=True)
class Head:
    """A parsed request head; the path without its query."""

    method: str
    path: str
    headers: dict[str, list[str]]  # lower-case name -> values in order


def parse_head(raw: bytes) -> Head:
    """Request line and header fields, strictly (RFC 9112 without the lenient parts)."""
    try:
        text = raw[:-4].decode("ascii")
    except UnicodeDecodeError as exc:
        raise BadHead("the request head is not ASCII") from exc
    lines = text.split("\r\n")
    if any("\r" in line or "\n" in line for line in lines):
        raise BadHead("lines must end with CRLF")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]) or not _VERSION.fullmatch(parts[2]):
        raise BadHead("the request line is not 'METHOD /path HTTP/1.1'")
    method, target, _version = parts
    if not target.startswith("/"):
        raise BadHead("the request target is not a path")
    if len(lines) - 1 > MAX_HEADERS:
        raise BadHead(f"more than {MAX_HEADERS} header fields")
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not _TOKEN.fullmatch(name):  # also refuses obs-fold and "Name :"
            raise BadHead("a header line is not 'Name: value'")
        value = value.strip(" \t")
        if any((ord(c) < 32 and c != "\t") or ord(c) == 127 for c in value):
            raise BadHead(f"header {name} has control characters")
        headers.setdefault(name.lower(), []).append(value)
    return Head(method, target.partition("?")[0], headers)


def accept_head(raw: bytes, path: str, max_body: int) -> tuple[int, bool] | Reply:
    """Check a request head (ending in CRLF CRLF) for a JSON POST to `path`.

    Returns (body length, whether to send 100 Continue first), or the refusal.
    """
    try:
        head = parse_head(raw)
    except BadHead as exc:
        return error_reply(400, "bad_request", str(exc))
    if head.path != path:
        return error_reply(404, "not_found", f"only {path} is served here")
    if head.method != "POST":
        reply = error_reply(405, "method_not_allowed", f"{path} takes POST")
        return replace(reply, headers=(("Allow", "POST"),))
    length = content_length(head, max_body)
    if isinstance(length, Reply):
        return length
    if not is_json(head):
        return error_reply(415, "unsupported_media_type", "Content-Type must be application/json")
    expect = head.headers.get("expect")
    if expect is not None and [e.lower() for e in expect] != ["100-continue"]:
        return error_reply(417, "expectation_failed", "only 'Expect: 100-continue' is known")
    return length, expect is not None


def content_length(head: Head, max_body: int) -> int | Reply:
    """The body's length, or the refusal: no length, chunked, malformed or too large."""
    if "transfer-encoding" in head.headers or "content-length" not in head.headers:
        return error_reply(411, "length_required", "send the body with a Content-Length")
    values = head.headers["content-length"]
    if len(values) != 1 or not _DIGITS.fullmatch(values[0]):
        return error_reply(400, "bad_request", "Content-Length must be one decimal number")
    length = int(values[0])
    if length > max_body:
        return error_reply(413, "too_large", f"the body may be at most {max_body} bytes")
    return length


def is_json(head: Head) -> bool:
    """Is the body declared as JSON (in UTF-8, if a charset is named)?"""
    values = head.headers.get("content-type", [])
    if len(values) != 1:
        return False
    media, _, params = values[0].partition(";")
    if media.strip().lower() != "application/json":
        return False
    for param in filter(None, (p.strip() for p in params.split(";"))):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() != "utf-8":
            return False
    return True


def parse_body(body: bytes) -> tuple[str, str]:
    """The nonce and the token, or ValueError."""
    doc = json.loads(body.decode("utf-8"), object_pairs_hook=no_duplicate_keys)
    if not isinstance(doc, dict):
        raise ValueError("the body is not a JSON object")
    nonce, token = doc.get("nonce"), doc.get("token")
    if not isinstance(nonce, str) or not 8 <= len(nonce) <= 128:
        raise ValueError("nonce must be a string of 8-128 characters")
    if not isinstance(token, str) or not token:
        raise ValueError("token must be a non-empty string")
    return nonce, token


def encode(reply: Reply) -> bytes:
    """The whole HTTP/1.1 response: head and compact JSON body, `Connection: close`."""
    body = json.dumps(reply.body, separators=(",", ":"), ensure_ascii=True).encode()
    try:
        phrase = http.HTTPStatus(reply.status).phrase
    except ValueError:
        phrase = "Status"
    lines = [
        f"HTTP/1.1 {reply.status} {phrase}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Cache-Control: no-store",
        "Connection: close",
        *(f"{name}: {value}" for name, value in reply.headers),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + body
