"""Secret detection and redaction (MEMORY.md §14).

Patterns aim at things that are unambiguously credentials: explicit assignments,
well-known token prefixes, PEM private keys and Luhn-valid card numbers with a real
issuer prefix. Ordinary numbers, dates, git SHAs and prose such as "password reset" are
left alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["SecretMatch", "contains_secret", "find_secrets", "luhn_ok", "redact"]


@dataclass(frozen=True, slots=True)
class SecretMatch:
    """One secret found in a text: ``text[start:end]`` is the secret value itself."""

    kind: str
    start: int
    end: int
    value: str


_KEY_KINDS = {
    "password": "password",
    "passwd": "password",
    "pwd": "password",
    "apikey": "api_key",
    "secretkey": "secret_key",
    "accesstoken": "access_token",
    "authtoken": "auth_token",
    "clientsecret": "client_secret",
}

# key [:=] value   or   key is value (the prose form needs a value that looks secret)
_ASSIGN_RE = re.compile(
    r"(?i)(?<![A-Za-z0-9])(?P<key>password|passwd|pwd|api[_\- ]?key|secret[_\- ]?key|"
    r"access[_\- ]?token|auth[_\- ]?token|client[_\- ]?secret)"
    r"(?P<op>\s*[:=]\s*|\s+is\s+|\s+was\s+)[\"'`]?(?P<value>[^\s\"'`,;]{4,})"
)
_PLACEHOLDER_RE = re.compile(
    r"^(?:<.*>|\$\{?\w+\}?|\*+|x+|\.+|\[redacted.*|none|null|required|optional|"
    r"changeme|your[_-]?\w*|example|\{\{.*\}\}|os\.environ.*|env\(.*)$",
    re.IGNORECASE,
)
_PREFIX_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "private_key",
        re.compile(
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----"
            r"(?:[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----)?"
        ),
    ),
    ("bearer_token", re.compile(r"(?<=\bBearer )[A-Za-z0-9\-._~+/]{20,}=*")),
    ("openai_key", re.compile(r"(?<![A-Za-z0-9])sk-[A-Za-z0-9_\-]{20,}")),
    ("github_token", re.compile(r"(?<![A-Za-z0-9])gh[pos]_[A-Za-z0-9]{20,}")),
    ("slack_token", re.compile(r"(?<![A-Za-z0-9])xoxb-[A-Za-z0-9\-]{10,}")),
    ("aws_access_key", re.compile(r"(?<![A-Za-z0-9])AKIA[0-9A-Z]{16}(?![A-Za-z0-9])")),
)
_CARD_RE = re.compile(r"(?<![\w.\-])(?:\d[ \-]?){12,18}\d(?![\w]|[.\-]\d)")


def _key_kind(key: str) -> str:
    return _KEY_KINDS.get(re.sub(r"[_\- ]", "", key.lower()), "secret")


def _looks_secret(value: str) -> bool:
    """Prose assignments ("my password is X") need a value that is not a plain word."""
    has_digit = any(ch.isdigit() for ch in value)
    has_symbol = any(not ch.isalnum() for ch in value)
    mixed_case = value != value.lower() and value != value.upper()
    return len(value) >= 6 and (has_digit or has_symbol or mixed_case)


def _assignments(text: str) -> list[SecretMatch]:
    found: list[SecretMatch] = []
    for m in _ASSIGN_RE.finditer(text):
        value = m.group("value").rstrip(".)!?")
        if len(value) < 4 or _PLACEHOLDER_RE.match(value):
            continue
        prose = m.group("op").strip().lower() in ("is", "was")
        if prose and not _looks_secret(value):
            continue
        start = m.start("value")
        found.append(SecretMatch(_key_kind(m.group("key")), start, start + len(value), value))
    return found


def luhn_ok(digits: str) -> bool:
    """Return True when a digit string passes the Luhn checksum."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _issuer_ok(digits: str) -> bool:
    """A real card starts with a known issuer prefix and has a matching length."""
    n = len(digits)
    if digits[0] == "4":
        return n in (13, 16, 19)
    two, four = int(digits[:2]), int(digits[:4])
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return n == 16
    if two in (34, 37):
        return n == 15
    if digits.startswith("6011") or two == 65 or 644 <= int(digits[:3]) <= 649:
        return 16 <= n <= 19
    if two == 35:
        return 16 <= n <= 19
    if two in (36, 38) or 300 <= int(digits[:3]) <= 305:
        return n == 14
    return False


def _cards(text: str) -> list[SecretMatch]:
    found: list[SecretMatch] = []
    for m in _CARD_RE.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if len(set(digits)) > 1 and _issuer_ok(digits) and luhn_ok(digits):
            found.append(SecretMatch("card_number", m.start(), m.end(), m.group()))
    return found


def find_secrets(text: str) -> list[SecretMatch]:
    """Return non-overlapping secrets in ``text``, ordered by position.

    When two patterns overlap, the earlier (then longer) match wins.
    """
    candidates = _assignments(text) + _cards(text)
    for kind, pattern in _PREFIX_PATTERNS:
        candidates.extend(
            SecretMatch(kind, m.start(), m.end(), m.group()) for m in pattern.finditer(text)
        )
    candidates.sort(key=lambda s: (s.start, -(s.end - s.start)))
    kept: list[SecretMatch] = []
    for cand in candidates:
        if not kept or cand.start >= kept[-1].end:
            kept.append(cand)
    return kept


def contains_secret(text: str) -> bool:
    """Return True when ``text`` holds at least one secret."""
    return bool(find_secrets(text))


def redact(text: str) -> str:
    """Replace every secret value with ``[REDACTED:<kind>]``; other text is unchanged."""
    out = text
    for secret in reversed(find_secrets(text)):
        out = out[: secret.start] + f"[REDACTED:{secret.kind}]" + out[secret.end :]
    return out
