"""Signing keys, trust and DSSE envelopes (pipeline/evidence/signing.py): real ed25519, no network."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from securesystemslib.signer import SSlibKey

from pipeline.core.errors import PipelineError
from pipeline.evidence import signing

PAYLOAD_TYPE = "application/vnd.example+json"


def write_ci_key(directory: Path, name: str = "ci") -> tuple[Path, Path]:
    """A CI key as `openssl genpkey -algorithm ed25519` writes it (PKCS#8 PEM) and its public half."""
    private = ed25519.Ed25519PrivateKey.generate()
    key_file = directory / f"{name}.pem"
    key_file.write_bytes(private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    public_file = directory / f"{name}.pub.pem"
    public_file.write_bytes(private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    return key_file, public_file


def test_the_throwaway_key_is_generated_once_private_to_its_owner_and_reused(tmp_path: Path) -> None:
    keys = tmp_path / "build" / "keys"
    first = signing.local_signing_key(keys)
    second = signing.local_signing_key(keys)
    assert first.local and second.local
    assert first.keyid == second.keyid
    assert stat.S_IMODE((keys / signing.LOCAL_KEY_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    assert signing.load_public_key(keys / signing.LOCAL_PUBLIC_KEY_FILE).keyid == first.keyid
    assert first.describe() == (
        f"signed with a throwaway local key {first.keyid[:16]} ({keys / signing.LOCAL_KEY_FILE}); "
        "only environments that accept local keys trust it"
    )


def test_a_configured_key_is_used_instead_of_the_throwaway_key(tmp_path: Path) -> None:
    key_file, public_file = write_ci_key(tmp_path)
    key = signing.signing_key(key_file, tmp_path / "keys")
    assert not key.local
    assert not (tmp_path / "keys").exists()  # no throwaway key made when a key is configured
    assert key.keyid == signing.load_public_key(public_file).keyid
    assert key.describe() == f"signed with the configured key {key.keyid[:16]} ({key_file})"


def test_key_ids_are_the_ones_securesystemslib_computes(tmp_path: Path) -> None:
    _, public_file = write_ci_key(tmp_path)
    public = signing.load_public_key(public_file)
    raw = ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(public.keyval["public"]))
    assert public.keyid == SSlibKey.from_crypto(raw).keyid
    assert len(public.keyid) == 64
    assert signing.public_key_pem(public) == public_file.read_bytes()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot be read"),
        (b"not a key", "is not an unencrypted PEM private key"),
        ("encrypted", "is not an unencrypted PEM private key"),
        ("ecdsa", "is not an ed25519 private key"),
    ],
)
def test_an_unusable_signing_key_is_refused_with_a_sentence(tmp_path: Path, content: object, message: str) -> None:
    path = tmp_path / "key.pem"
    if content == "encrypted":
        private = ed25519.Ed25519PrivateKey.generate()
        path.write_bytes(private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, BestAvailableEncryption(b"pw")))
    elif content == "ecdsa":
        other = ec.generate_private_key(ec.SECP256R1())
        path.write_bytes(other.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    elif isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises(PipelineError, match=message) as raised:
        signing.load_signing_key(path)
    assert str(raised.value).startswith(f"the signing key (PAYGATE_SIGNING_KEY) {path} ")


def test_a_trusted_key_that_is_not_ed25519_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ec.pub.pem"
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    path.write_bytes(other.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    with pytest.raises(PipelineError, match="is not an ed25519 public key"):
        signing.trust("prod", [path], False, tmp_path / "keys")
    with pytest.raises(PipelineError, match="cannot be read"):
        signing.trust("prod", [tmp_path / "missing.pem"], False, tmp_path / "keys")


def test_trust_holds_this_machines_throwaway_key_only_when_the_environment_accepts_local_keys(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    local = signing.local_signing_key(keys)
    _, public_file = write_ci_key(tmp_path)
    ci_keyid = signing.load_public_key(public_file).keyid
    accepting = signing.trust("dev", [public_file], True, keys)
    refusing = signing.trust("production", [public_file], False, keys)
    assert set(accepting.keys) == {ci_keyid, local.keyid}
    assert set(refusing.keys) == {ci_keyid}
    assert refusing.local_keyids == accepting.local_keyids == {local.keyid}
    assert signing.trust("dev", [], True, tmp_path / "no-keys").keys == {}  # nothing generated by trust


def test_an_envelope_opens_with_a_trusted_key_and_is_deterministic(tmp_path: Path) -> None:
    key = signing.local_signing_key(tmp_path / "keys")
    data = signing.sign_envelope(b'{"a":1}', PAYLOAD_TYPE, key)
    assert data == signing.sign_envelope(b'{"a":1}', PAYLOAD_TYPE, key)
    document = json.loads(data)
    assert document["payloadType"] == PAYLOAD_TYPE
    assert base64.b64decode(document["payload"]) == b'{"a":1}'
    assert [s["keyid"] for s in document["signatures"]] == [key.keyid]
    opened = signing.open_envelope(data, PAYLOAD_TYPE, signing.trust("dev", [], True, tmp_path / "keys"), "x")
    assert (opened.payload, opened.keyid, opened.local_key) == (b'{"a":1}', key.keyid, True)


def _reencoded(data: bytes, **changes: object) -> bytes:
    document = json.loads(data)
    document.update(changes)
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()


def test_each_kind_of_envelope_damage_has_its_reason(tmp_path: Path) -> None:
    key_file, public_file = write_ci_key(tmp_path)
    key = signing.load_signing_key(key_file)
    trust = signing.trust("staging", [public_file], False, tmp_path / "keys")
    data = signing.sign_envelope(b'{"a":1}', PAYLOAD_TYPE, key)
    document = json.loads(data)
    payload = base64.b64encode(b'{"a":2}').decode()
    signature = bytearray(base64.b64decode(document["signatures"][0]["sig"]))
    signature[0] ^= 1
    forged_signature = [{"keyid": key.keyid, "sig": base64.b64encode(bytes(signature)).decode()}]
    damaged = {
        "malformed": [b"{}", b"not json", _reencoded(data, payloadType="text/plain")],
        "edited": [data.replace(b"\n", b"\r\n"), data + b" "],
        "invalid": [_reencoded(data, payload=payload), _reencoded(data, signatures=forged_signature)],
        "untrusted": [_reencoded(data, signatures=[{"keyid": "0" * 64, "sig": document["signatures"][0]["sig"]}])],
    }
    for reason, variants in damaged.items():
        for variant in variants:
            with pytest.raises(signing.SignatureError) as raised:
                signing.open_envelope(variant, PAYLOAD_TYPE, trust, "the manifest")
            assert raised.value.reason == reason, (variant, str(raised.value))
            assert str(raised.value).startswith("the ")
            assert "\n" not in str(raised.value)


def test_a_throwaway_key_is_named_as_such_where_local_keys_are_not_accepted(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    local = signing.local_signing_key(keys)
    _, public_file = write_ci_key(tmp_path)
    data = signing.sign_envelope(b"{}", PAYLOAD_TYPE, local)
    with pytest.raises(signing.SignatureError) as raised:
        signing.open_envelope(data, PAYLOAD_TYPE, signing.trust("production", [public_file], False, keys), "M")
    assert raised.value.reason == "local-key"
    assert str(raised.value) == (
        f"M is signed with a throwaway local key ({local.keyid[:16]}), which environment production does not "
        "accept: sign it with a configured key (PAYGATE_SIGNING_KEY) that the environment trusts."
    )


def test_an_environment_that_trusts_no_key_says_so(tmp_path: Path) -> None:
    key_file, _ = write_ci_key(tmp_path)
    key = signing.load_signing_key(key_file)
    data = signing.sign_envelope(b"{}", PAYLOAD_TYPE, key)
    with pytest.raises(signing.SignatureError) as raised:
        signing.open_envelope(data, PAYLOAD_TYPE, signing.trust("staging", [], False, tmp_path / "keys"), "M")
    assert raised.value.reason == "untrusted"
    assert str(raised.value) == (
        f"M is signed by {key.keyid[:16]}, but environment staging trusts no signing key (its [evidence] trusted_keys)."
    )


def test_a_key_the_environment_does_not_list_is_untrusted(tmp_path: Path) -> None:
    key_file, _ = write_ci_key(tmp_path, "signer")
    _, other_public = write_ci_key(tmp_path, "other")
    key = signing.load_signing_key(key_file)
    trusted = signing.load_public_key(other_public).keyid
    data = signing.sign_envelope(b"{}", PAYLOAD_TYPE, key)
    with pytest.raises(signing.SignatureError) as raised:
        signing.open_envelope(data, PAYLOAD_TYPE, signing.trust("staging", [other_public], False, tmp_path / "k"), "M")
    assert raised.value.reason == "untrusted"
    assert str(raised.value) == (
        f"M is signed by {key.keyid[:16]}, which environment staging does not trust (trusted: {trusted[:16]})."
    )
