"""Phone numbers to E.164 with `phonenumbers`, so every spelling of a number finds one customer."""

from __future__ import annotations

import phonenumbers

# International call prefixes people type instead of "+": 00 (most of the world), 011 (NANP).
_IDD_PREFIXES = ("00", "011")


def to_e164(raw: str, default_region: str = "US") -> str | None:
    """'+86 138 0013 8000', '008613800138000' and '13800138000' (region CN) -> '+8613800138000'.

    Returns None for anything that is not a possible phone number (client identities, garbage).
    """
    text = (raw or "").strip()
    if not text or len(text) > 64:
        return None
    if text.startswith("client:") or "@" in text:
        return None
    digits = "".join(ch for ch in text if ch.isdigit())
    candidates = [text]
    if not text.startswith("+"):
        for prefix in _IDD_PREFIXES:
            if digits.startswith(prefix) and len(digits) > len(prefix) + 6:
                candidates.append("+" + digits[len(prefix) :])
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, default_region.upper())
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return None
