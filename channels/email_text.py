"""Email body text helpers: safe HTML-to-text and splitting new text from quoted history."""

from __future__ import annotations

import re
from email.message import MIMEPart
from html.parser import HTMLParser

MAX_HTML_CHARS = 2_000_000
DROP_TAGS = frozenset({"script", "style", "head", "title", "template", "noscript", "svg"})
BLOCK_TAGS = frozenset(
    {"p", "div", "br", "li", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "pre"}
    | {"ul", "ol", "blockquote", "section", "article", "header", "footer", "dt", "dd"}
)
# "On Mon, 8 Jan 2024 at 10:00, Jane <jane@x.org> wrote:" and its common translations.
ATTRIBUTION_RE = re.compile(
    r"^\s*(on|am|le|el|op|il)\b.{0,300}"
    r"\b(wrote|schrieb|a écrit|escribió|schreef|ha scritto)\s*:\s*$",
    re.IGNORECASE | re.DOTALL,
)
SEPARATOR_RE = re.compile(
    r"^\s*(-{2,}\s*(original message|ursprüngliche nachricht|message d'origine)\s*-{2,}"
    r"|_{10,})\s*$",
    re.IGNORECASE,
)
WHITESPACE_RE = re.compile(r"[ \t\n\r\f]+")  # HTML whitespace: ASCII only, not nbsp
OUTLOOK_FROM_RE = re.compile(r"^\s*\*?(from|von|de)\s*:\*?\s+\S", re.IGNORECASE)


class _TextExtractor(HTMLParser):
    """Collect visible text only; blockquotes are prefixed with '>' so they count as quoted."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = [""]
        self.drop_depth = 0
        self.quote_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in DROP_TAGS:
            self.drop_depth += 1
        elif tag == "blockquote":
            self._newline()
            self.quote_depth += 1
        elif tag in BLOCK_TAGS:
            self._newline()
        if tag == "li":
            self._write("- ")

    def handle_endtag(self, tag: str) -> None:
        if tag in DROP_TAGS:
            self.drop_depth = max(0, self.drop_depth - 1)
        elif tag == "blockquote":
            self._newline()
            self.quote_depth = max(0, self.quote_depth - 1)
        elif tag in BLOCK_TAGS:
            self._newline()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in BLOCK_TAGS:
            self._newline()

    def handle_data(self, data: str) -> None:
        if self.drop_depth:
            return
        text = WHITESPACE_RE.sub(" ", data)
        if not self.lines[-1] or self.lines[-1].endswith(" "):
            text = text.lstrip()
        if text:
            self._write(text)

    def _write(self, text: str) -> None:
        if not self.lines[-1] and self.quote_depth:
            self.lines[-1] = "> " * self.quote_depth
            text = text.lstrip()
        self.lines[-1] += text

    def _newline(self) -> None:
        if self.lines[-1].strip():
            self.lines.append("")
        else:
            self.lines[-1] = ""
            if len(self.lines) > 1 and self.lines[-2] != "":
                self.lines.append("")


def html_to_text(html: str) -> str:
    """Render HTML as plain text without executing or keeping any markup (untrusted input)."""
    parser = _TextExtractor()
    parser.feed(html[:MAX_HTML_CHARS])
    parser.close()
    text = "\n".join(line.rstrip() for line in parser.lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def split_quoted(text: str) -> tuple[str, str]:
    """(new text, quoted history): cut at the first reply header, then drop '>' lines."""
    lines = text.split("\n")
    cut = _history_start(lines)
    head, history = lines[:cut], lines[cut:]
    new = [line for line in head if not line.lstrip().startswith(">")]
    quoted = [line for line in head if line.lstrip().startswith(">")] + history
    new_text = "\n".join(new).strip()
    if not new_text:  # nothing new (pure forward/quote): keep everything visible
        return text.strip(), ""
    return new_text, "\n".join(quoted).strip()


def _history_start(lines: list[str]) -> int:
    for i, line in enumerate(lines):
        if SEPARATOR_RE.match(line):
            return i
        # Gmail wraps long attributions over two lines.
        for span in (line, f"{line} {lines[i + 1]}" if i + 1 < len(lines) else ""):
            if span and ATTRIBUTION_RE.match(span):
                return i
        if OUTLOOK_FROM_RE.match(line) and _outlook_block(lines[i : i + 6]):
            return i
    return len(lines)


def _outlook_block(lines: list[str]) -> bool:
    """Outlook's 'From: / Sent: / To: / Subject:' header without a separator line."""
    keys = {line.split(":", 1)[0].strip(" *").lower() for line in lines if ":" in line}
    sent = keys & {"sent", "gesendet", "envoyé", "date"}
    return bool(sent) and bool(keys & {"subject", "betreff", "objet"})


def decode_part(part: MIMEPart) -> str:
    """Text of a leaf part; an unknown charset is read as utf-8 with latin-1 for stray bytes."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return utf8_or_latin1(payload)


def utf8_or_latin1(data: bytes, max_errors: int = 1000) -> str:
    """Mixed-encoding text (common with lying charsets) without mojibake for the utf-8 parts."""
    out: list[str] = []
    for _ in range(max_errors):
        try:
            out.append(data.decode("utf-8"))
            return "".join(out)
        except UnicodeDecodeError as exc:
            out.append(data[: exc.start].decode("utf-8"))
            out.append(data[exc.start : exc.end].decode("latin-1"))
            data = data[exc.end :]
    out.append(data.decode("latin-1"))
    return "".join(out)
