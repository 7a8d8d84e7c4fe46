"""Tests for secret detection and redaction."""

from __future__ import annotations

import pytest

from lycheemem.domain.text.redact import contains_secret, find_secrets, luhn_ok, redact


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("password=hunter22", "password"),
        ("PASSWD: s3cr3t!!", "password"),
        ("pwd = 'abc12345'", "password"),
        ("my password is Tr0ub4dor&3", "password"),
        ('api_key: "abcd1234efgh"', "api_key"),
        ("API-KEY=zzzzzzzz99", "api_key"),
        ("secret_key=AbCdEf123456", "secret_key"),
        ("access token: eyJhbGciOi.abc", "access_token"),
        ("auth_token=0123456789abcdef", "auth_token"),
        ("client_secret = qwertyuiop123", "client_secret"),
        ("Authorization: Bearer abcdefghijklmnopqrstuvwxyz123", "bearer_token"),
        ("use sk-abcdefghijklmnopqrstuvwx for it", "openai_key"),
        ("token ghp_abcdefghijklmnopqrstuvwxyz0123456789", "github_token"),
        ("xoxb-1234567890-abcdefghij", "slack_token"),
        ("AKIAIOSFODNN7EXAMPLE", "aws_access_key"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", "private_key"),
        ("-----BEGIN PRIVATE KEY-----", "private_key"),
        ("card 4111 1111 1111 1111 thanks", "card_number"),
        ("amex 3782-822463-10005", "card_number"),
        ("mc 5555555555554444", "card_number"),
    ],
)
def test_detects_secrets(text: str, kind: str) -> None:
    found = find_secrets(text)
    assert [s.kind for s in found] == [kind]
    assert contains_secret(text)
    assert f"[REDACTED:{kind}]" in redact(text)


@pytest.mark.parametrize(
    "text",
    [
        "I need a password reset link",
        "The password is required for login",
        "my password was changed yesterday",
        "api key rotation is scheduled",
        "The order number is 1234567812345678",
        "call me at +1 555 123 4567",
        "We met on 2023-05-08 at 13:56",
        "commit 3f2a9c1d4e5b6a7980c1d2e3f4a5b6c7d8e9f0a1 fixed it",
        "the year 2023 had 365 days and 8760 hours",
        "Bearer tokens are sent in the header",
        "the sk-learn library",
        "password: <your-password>",
        "password=${DB_PASSWORD}",
        "4111 1111 1111 1112 is not Luhn valid",
        "0000000000000000",
    ],
)
def test_no_false_positives(text: str) -> None:
    assert find_secrets(text) == []
    assert redact(text) == text
    assert not contains_secret(text)


def test_redact_keeps_context_and_replaces_value_only() -> None:
    text = "db password=hunter22 and key AKIAIOSFODNN7EXAMPLE done"
    assert redact(text) == (
        "db password=[REDACTED:password] and key [REDACTED:aws_access_key] done"
    )


def test_matches_are_ordered_and_disjoint() -> None:
    text = "sk-abcdefghijklmnopqrstuvwx then 4111111111111111"
    found = find_secrets(text)
    assert [s.kind for s in found] == ["openai_key", "card_number"]
    assert found[0].end <= found[1].start
    assert text[found[1].start : found[1].end] == "4111111111111111"


def test_luhn() -> None:
    assert luhn_ok("4111111111111111")
    assert not luhn_ok("4111111111111112")
    assert luhn_ok("79927398713")
