"""Ed25519 signing keys, the keys an environment trusts, and DSSE envelopes (sign and open).

Keys are securesystemslib's (``CryptoSigner`` to sign, ``SSlibKey`` to verify); a key id is the one
securesystemslib computes: the hex sha256 of the canonical JSON of the public key (keytype, scheme,
keyval). Where the signing key comes from:

- **a CI key**: a PEM (PKCS#8, unencrypted) ed25519 private key whose path the CLI reads from
  ``PAYGATE_SIGNING_KEY``. Make one with ``openssl genpkey -algorithm ed25519 -out signing.pem`` and
  list its public half (``openssl pkey -in signing.pem -pubout -out signing.pub.pem``) in the
  environment file's ``[evidence] trusted_keys``;
- **else a throwaway local key**, generated once under ``build/keys/`` (``local-ed25519.pem``, mode
  0600, and its ``.pub.pem``) and reused by later local runs. It proves nothing about who signed, so
  only an environment whose file says ``accept_local_keys = true`` (the LocalStack kind) trusts it,
  and only the one of this machine.

Envelopes are DSSE v1 (https://github.com/secure-systems-lab/dsse/blob/master/envelope.md): the
signature covers the pre-authentication encoding ``DSSEv1 <len> <payloadType> <len> <payload>``, so
neither the payload nor its type can change without breaking it. An envelope is written in one
canonical form (sorted keys, two-space indent, standard base64) and read back only if the file is
byte for byte that form: any edit of the file, even one that leaves the decoded payload unchanged,
is detected.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)
from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import FormatError, UnverifiedSignatureError
from securesystemslib.signer import CryptoSigner, SSlibKey

from pipeline.core.errors import PipelineError

LOCAL_KEY_FILE = "local-ed25519.pem"
LOCAL_PUBLIC_KEY_FILE = "local-ed25519.pub.pem"
KEYID_SHOWN = 16  # hex digits of a key id in messages


class SignatureError(PipelineError):
    """An envelope cannot be trusted; ``reason`` says why.

    ``malformed`` (not a DSSE envelope of the expected payload type), ``edited`` (the file is not the
    form it was written in), ``untrusted`` (no signature by a key the environment trusts),
    ``local-key`` (signed with a throwaway local key, which the environment does not accept),
    ``invalid`` (a trusted key's signature does not match the payload: payload or signature changed).
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class SigningKey:
    """A private key to sign with: where it came from, and whether it is a throwaway local key."""

    signer: CryptoSigner
    source: Path
    local: bool

    @property
    def public_key(self) -> SSlibKey:
        return self.signer.public_key

    @property
    def keyid(self) -> str:
        return self.signer.public_key.keyid

    def describe(self) -> str:
        """One line for the output: which key signed, and what that means for trust."""
        if self.local:
            return (
                f"signed with a throwaway local key {self.keyid[:KEYID_SHOWN]} ({self.source}); "
                "only environments that accept local keys trust it"
            )
        return f"signed with the configured key {self.keyid[:KEYID_SHOWN]} ({self.source})"


def _ed25519_signer(private_key: object, source: Path, what: str) -> CryptoSigner:
    if not isinstance(private_key, Ed25519PrivateKey):
        raise PipelineError(f"{what} {source} is not an ed25519 private key ({type(private_key).__name__}).")
    return CryptoSigner(private_key)


def load_signing_key(path: Path) -> SigningKey:
    """The CI key: a PEM (PKCS#8, unencrypted) ed25519 private key at ``path``.

    Raises :class:`PipelineError` when the file is missing, unreadable, encrypted or not ed25519.
    """
    what = "the signing key (PAYGATE_SIGNING_KEY)"
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PipelineError(f"{what} {path} cannot be read: {exc.strerror}.") from None
    try:
        private_key = load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise PipelineError(f"{what} {path} is not an unencrypted PEM private key ({exc}).") from None
    return SigningKey(_ed25519_signer(private_key, path, what), path, local=False)


def local_signing_key(keys_dir: Path) -> SigningKey:
    """This machine's throwaway key under ``keys_dir`` (generated on first use, then reused).

    The private key is written with mode 0600 in a 0700 directory, the public key beside it. Raises
    :class:`PipelineError` when an existing key file is not an ed25519 key.
    """
    private_file = keys_dir / LOCAL_KEY_FILE
    if private_file.is_file():
        try:
            private_key = load_pem_private_key(private_file.read_bytes(), password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise PipelineError(f"the local key {private_file} is unreadable ({exc}): delete it.") from None
        signer = _ed25519_signer(private_key, private_file, "the local key")
    else:
        signer = CryptoSigner.generate_ed25519()
        keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = private_file.with_name(f".{private_file.name}.{os.getpid()}.tmp")
        descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(signer.private_bytes)
        tmp.replace(private_file)
    public_file = keys_dir / LOCAL_PUBLIC_KEY_FILE
    public_pem = public_key_pem(signer.public_key)
    if not public_file.is_file() or public_file.read_bytes() != public_pem:
        public_file.write_bytes(public_pem)
    return SigningKey(signer, private_file, local=True)


def signing_key(configured: Path | None, keys_dir: Path) -> SigningKey:
    """The configured CI key if there is one, else this machine's throwaway key (see the module doc)."""
    return load_signing_key(configured) if configured is not None else local_signing_key(keys_dir)


def public_key_pem(key: SSlibKey) -> bytes:
    """The SubjectPublicKeyInfo PEM of an ed25519 ``SSlibKey`` (what an environment file lists)."""
    public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(key.keyval["public"]))
    return public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def load_public_key(path: Path) -> SSlibKey:
    """An ed25519 public key from a PEM file, with the key id securesystemslib computes.

    Raises :class:`PipelineError` when the file is missing or is not an ed25519 public key.
    """
    try:
        public = load_pem_public_key(path.read_bytes())
    except OSError as exc:
        raise PipelineError(f"the trusted key {path} cannot be read: {exc.strerror}.") from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise PipelineError(f"the trusted key {path} is not a PEM public key ({exc}).") from None
    if not isinstance(public, Ed25519PublicKey):
        raise PipelineError(f"the trusted key {path} is not an ed25519 public key ({type(public).__name__}).")
    return SSlibKey.from_crypto(public)


@dataclass(frozen=True)
class Trust:
    """The keys an environment trusts (key id -> key), and this machine's throwaway key ids.

    ``local_keyids`` are known so that a refusal can say "a throwaway local key" rather than "an
    unknown key"; they are in ``keys`` only when the environment accepts local keys.
    """

    environment: str
    keys: Mapping[str, SSlibKey]
    local_keyids: frozenset[str]
    accept_local_keys: bool


def trust(environment: str, trusted_keys: Sequence[Path], accept_local_keys: bool, keys_dir: Path) -> Trust:
    """Trust for ``environment``: the PEM public keys ``trusted_keys`` (absolute paths; an environment file
    lists them relative to the repository), plus this machine's throwaway key if ``accept_local_keys``.

    Reads the local public key only if it exists (nothing is generated here). Raises
    :class:`PipelineError` for a trusted key file that is missing or not ed25519.
    """
    keys = {key.keyid: key for key in (load_public_key(path) for path in trusted_keys)}
    local: set[str] = set()
    public_file = keys_dir / LOCAL_PUBLIC_KEY_FILE
    if public_file.is_file():
        local_key = load_public_key(public_file)
        local.add(local_key.keyid)
        if accept_local_keys:
            keys.setdefault(local_key.keyid, local_key)
    return Trust(environment, keys, frozenset(local), accept_local_keys)


def trust_signer(key: SigningKey, environment: str = "") -> Trust:
    """Trust exactly ``key`` (what ``evidence sign`` uses to re-read the manifest it signed before)."""
    local = frozenset({key.keyid}) if key.local else frozenset()
    return Trust(environment, {key.keyid: key.public_key}, local, accept_local_keys=key.local)


def _canonical(envelope: Envelope) -> bytes:
    return (json.dumps(envelope.to_dict(), indent=2, sort_keys=True) + "\n").encode()


def sign_envelope(payload: bytes, payload_type: str, key: SigningKey) -> bytes:
    """A DSSE envelope over ``payload`` signed by ``key``, as the bytes of its JSON file.

    ed25519 signatures are deterministic: the same payload and key always give the same bytes.
    """
    envelope = Envelope(payload, payload_type, {})
    envelope.sign(key.signer)
    return _canonical(envelope)


@dataclass(frozen=True)
class Opened:
    """A verified envelope: its payload and the trusted key that signed it."""

    payload: bytes
    keyid: str
    local_key: bool


def _parse(data: bytes, what: str) -> Envelope:
    try:
        document: Any = json.loads(data)
        if not isinstance(document, dict) or not isinstance(document.get("signatures"), list):
            raise ValueError("not a DSSE envelope object")
        envelope = Envelope.from_dict(document)
    except (ValueError, KeyError, TypeError, AttributeError, FormatError) as exc:
        raise SignatureError("malformed", f"{what} is not a DSSE envelope ({exc}).") from None
    if _canonical(envelope) != data:
        raise SignatureError("edited", f"{what} was edited: it is not byte for byte the envelope that was written.")
    return envelope


def open_envelope(data: bytes, payload_type: str, trust: Trust, what: str) -> Opened:
    """Verify a DSSE envelope file's bytes against ``trust``; return its payload.

    ``what`` names the file in messages. Raises :class:`SignatureError` (``reason`` as documented there)
    for a malformed or edited file, a wrong payload type, no signature by a trusted key, a throwaway
    key the environment does not accept, or a trusted key's signature that does not verify.
    """
    envelope = _parse(data, what)
    if envelope.payload_type != payload_type:
        raise SignatureError("malformed", f"{what} holds a {envelope.payload_type!r} payload, not {payload_type!r}.")
    pae = envelope.pae()
    signed_by = list(envelope.signatures)
    for keyid, signature in envelope.signatures.items():
        key = trust.keys.get(keyid)
        if key is None:
            continue
        try:
            key.verify_signature(signature, pae)
        except UnverifiedSignatureError:  # VerificationError is a subclass
            raise SignatureError(
                "invalid",
                f"the signature of {what} by key {keyid[:KEYID_SHOWN]} does not verify: "
                "its payload or signature was changed after signing.",
            ) from None
        return Opened(envelope.payload, keyid, keyid in trust.local_keyids)
    raise _untrusted(signed_by, trust, what)


def _untrusted(signed_by: Iterable[str], trust: Trust, what: str) -> SignatureError:
    shown = ", ".join(keyid[:KEYID_SHOWN] for keyid in signed_by) or "no key"
    env = f"environment {trust.environment}" if trust.environment else "this check"
    if any(keyid in trust.local_keyids for keyid in signed_by) and not trust.accept_local_keys:
        return SignatureError(
            "local-key",
            f"{what} is signed with a throwaway local key ({shown}), which {env} does not accept: "
            "sign it with a configured key (PAYGATE_SIGNING_KEY) that the environment trusts.",
        )
    if not trust.keys:
        return SignatureError(
            "untrusted", f"{what} is signed by {shown}, but {env} trusts no signing key (its [evidence] trusted_keys)."
        )
    trusted = ", ".join(keyid[:KEYID_SHOWN] for keyid in sorted(trust.keys))
    return SignatureError("untrusted", f"{what} is signed by {shown}, which {env} does not trust (trusted: {trusted}).")
