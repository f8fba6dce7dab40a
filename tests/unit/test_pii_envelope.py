"""AES-GCM envelopes, the keyring, key text and the blind index (adapters/crypto)."""

from __future__ import annotations

import pytest

from adapters.crypto.blind_index import HmacBlindIndex
from adapters.crypto.envelope import AesGcmKeyring, b64url, unb64url
from adapters.crypto.keys import (
    KeyMaterialError,
    generate_index_key,
    generate_key_entry,
    parse_index_key,
    parse_keyring,
)
from application.pii import (
    Binding,
    ContactKind,
    IntegrityFailure,
    MalformedEnvelope,
    PiiCryptoError,
    UnknownKeyId,
    normalise_contact,
)

ROW = Binding("applicants", "email", "user-000001")
OLD, NEW = generate_key_entry("old"), generate_key_entry("new")


def keyring(*entries: str) -> AesGcmKeyring:
    return parse_keyring(",".join(entries))


def test_round_trip_names_the_key_and_hides_the_value() -> None:
    cipher = keyring(OLD)
    sealed = cipher.seal("priya.sharma@example.com", ROW)
    version, kid, nonce, body = sealed.split(".")
    assert (version, kid) == ("v1", "old")
    assert len(unb64url(nonce)) == 12 and len(unb64url(body)) == len("priya.sharma@example.com") + 16
    assert "priya" not in sealed
    assert cipher.open(sealed, ROW) == "priya.sharma@example.com"
    assert cipher.key_id(sealed) == "old" and cipher.is_envelope(sealed)
    assert cipher.seal("x", ROW) != cipher.seal("x", ROW)  # fresh nonce every time
    assert cipher.open(cipher.seal("", ROW), ROW) == ""
    assert cipher.open(cipher.seal("Zoë 🙂", ROW), ROW) == "Zoë 🙂"


@pytest.mark.parametrize("other", [Binding("applicants", "email", "user-000002"),
                                   Binding("applicants", "phone", "user-000001"),
                                   Binding("cache", "email", "user-000001"),
                                   # same characters, other split: length-prefixed AAD
                                   Binding("applicants", "emailuser-000001", "")])
def test_a_value_moved_to_another_row_column_or_table_does_not_open(other: Binding) -> None:
    cipher = keyring(OLD)
    sealed = cipher.seal("ABCDE1234F", ROW)
    with pytest.raises(IntegrityFailure, match="moved from another row or column"):
        cipher.open(sealed, other)


def test_tampering_with_any_part_fails() -> None:
    cipher = keyring(NEW, OLD)
    sealed = cipher.seal("9876543210", ROW)
    version, kid, nonce, body = sealed.split(".")
    flipped = bytearray(unb64url(body))
    flipped[0] ^= 1
    for forged in (f"{version}.{kid}.{nonce}.{b64url(bytes(flipped))}",
                   f"{version}.{kid}.{b64url(bytes(12))}.{body}",
                   f"{version}.old.{nonce}.{body}"):  # header edited: the kid is in the AAD
        with pytest.raises(IntegrityFailure):
            cipher.open(forged, ROW)


@pytest.mark.parametrize("value", ["priya@example.com", "v1.old.abc", "v2.old.AAAA.AAAA",
                                   "v1.o.ld.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA",
                                   "v1.old.!!!!.AAAA", "v1.old.AAAA.AAAAAAAAAAAAAAAAAAAAAA", ""])
def test_anything_but_an_envelope_is_malformed(value: str) -> None:
    cipher = keyring(OLD)
    assert not cipher.is_envelope(value)
    with pytest.raises(MalformedEnvelope):
        cipher.open(value, ROW)


def test_first_key_seals_every_key_opens_an_unknown_kid_is_a_typed_error() -> None:
    old_only = keyring(OLD)
    rotated = keyring(NEW, OLD)
    from_old = old_only.seal("Priya Sharma", ROW)
    assert rotated.current_key_id == "new" and rotated.key_ids == ("new", "old")
    assert rotated.open(from_old, ROW) == "Priya Sharma"
    from_new = rotated.seal("Priya Sharma", ROW)
    assert rotated.key_id(from_new) == "new"
    with pytest.raises(UnknownKeyId) as raised:
        old_only.open(from_new, ROW)
    assert raised.value.key_id == "new" and isinstance(raised.value, PiiCryptoError)
    retired = keyring(NEW)
    with pytest.raises(UnknownKeyId, match="'old'"):
        retired.open(from_old, ROW)


def test_same_kid_with_another_key_fails_authentication() -> None:
    sealed = keyring(generate_key_entry("k1")).seal("x", ROW)
    with pytest.raises(IntegrityFailure):
        keyring(generate_key_entry("k1")).open(sealed, ROW)


@pytest.mark.parametrize("text, problem", [
    ("", "no PII keys"),
    ("# only a comment\n", "no PII keys"),
    ("nokey", "expected kid:base64url-key"),
    ("bad.kid:" + b64url(bytes(32)), "expected kid:base64url-key"),
    ("k1:" + b64url(bytes(16)), "has 16 bytes"),
    ("k1:not base64!", "not base64url"),
    (f"k1:{b64url(bytes(32))},k1:{b64url(bytes(range(32)))}", "appears twice"),
])
def test_unusable_key_text_is_refused_without_echoing_it(text: str, problem: str) -> None:
    with pytest.raises(KeyMaterialError, match=problem) as raised:
        parse_keyring(text)
    secret = text.partition(":")[2]
    assert not secret or secret not in str(raised.value)


def test_key_text_accepts_lines_commas_and_comments() -> None:
    cipher = parse_keyring(f"# rotated 2026-11\n{NEW}\n  {OLD} ,\n")
    assert cipher.key_ids == ("new", "old")
    assert generate_key_entry().startswith("k") and parse_keyring(generate_key_entry())
    with pytest.raises(KeyMaterialError):
        generate_key_entry("no spaces")
    assert parse_index_key(generate_index_key()).digest(ContactKind.PAN, "ABCDE1234F")
    with pytest.raises(KeyMaterialError, match="at least 32"):
        parse_index_key(b64url(bytes(31)))


def test_normal_forms_for_lookups() -> None:
    assert normalise_contact(ContactKind.EMAIL, "  Priya.Sharma@Example.COM ") == \
        "priya.sharma@example.com"
    for phone in ("+91 98765 43210", "098765-43210", "9876543210", "91 9876543210"):
        assert normalise_contact(ContactKind.PHONE, phone) == "9876543210"
    assert normalise_contact(ContactKind.PAN, " abcde1234f") == "ABCDE1234F"
    assert normalise_contact(ContactKind.PHONE, "n/a") == ""


def test_blind_index_is_keyed_normalised_and_separates_kinds() -> None:
    index = HmacBlindIndex(bytes(range(32)))
    digest = index.digest(ContactKind.EMAIL, "Priya@Example.com")
    assert digest == index.digest(ContactKind.EMAIL, " priya@example.com")
    assert len(digest) == 64 and "priya" not in digest
    assert index.digest(ContactKind.EMAIL, "other@example.com") != digest
    assert index.digest(ContactKind.PHONE, "9876543210") != index.digest(ContactKind.PAN,
                                                                         "9876543210")
    assert HmacBlindIndex(bytes(range(1, 33))).digest(ContactKind.EMAIL, "priya@example.com") \
        != digest
    assert index.digest(ContactKind.PHONE, "--") is None
    with pytest.raises(ValueError):
        HmacBlindIndex(bytes(16))
