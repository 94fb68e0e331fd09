"""Widget uploads: the type comes from the file's bytes, names are cleaned, sizes bounded."""

from __future__ import annotations

import pytest

from channels.base import ChannelError
from channels.web_chat import Visitor, sniff_upload, upload_contact

VISITOR = Visitor(visitor_id="v1", identity_kind="chat", identity="v-v1", name="Vic")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 20


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (PNG, "image/png"),
        (b"\xff\xd8\xff\xe0rest", "image/jpeg"),
        (b"GIF89a....", "image/gif"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"%PDF-1.7\n", "application/pdf"),
    ],
)
def test_types_are_read_from_the_bytes(data: bytes, expected: str) -> None:
    assert sniff_upload(data)[0] == expected


@pytest.mark.parametrize(
    "data", [b"MZ\x90\x00", b"<svg onload=alert(1)>", b"<html>", b"PK\x03\x04zip", b"#!/bin/sh"]
)
def test_anything_else_is_refused(data: bytes) -> None:
    with pytest.raises(ChannelError, match="only images"):
        sniff_upload(data)


def test_names_lose_paths_and_say_what_the_file_is() -> None:
    contact = upload_contact(VISITOR, "..\\..\\evil.exe", PNG, max_bytes=1000)
    [a] = contact.attachments
    assert (a.filename, a.content_type, a.size, a.data) == ("evil.exe.png", "image/png", 28, PNG)
    assert contact.body == "📎 evil.exe.png" and contact.sender == "v-v1"


@pytest.mark.parametrize("data", [b"", None, "text", PNG * 100])
def test_empty_wrong_or_oversized_files_are_refused(data: object) -> None:
    with pytest.raises(ChannelError):
        upload_contact(VISITOR, "x.png", data, max_bytes=1000)
