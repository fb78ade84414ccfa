"""Payload encryption (OTTOSCALER_PAYLOAD_KEY): what Ottoscaler writes to Temporal is sealed.

As Temporal's encryption sample does: each payload, metadata and data, is serialized and
sealed with AES-GCM under a fresh 12-byte nonce; the sealed payload says its encoding and
the id of its key in its metadata, so keys can rotate: the first key encrypts, every key
decrypts. Failure messages and stack traces are moved into an encoded payload too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Iterable, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12
KEY_SETTING = "OTTOSCALER_PAYLOAD_KEY (or OTTOSCALER_PAYLOAD_KEY_FILE)"


class PayloadKeyMissing(ValueError):
    """A payload sealed with a key this process does not hold."""


def key_id(key: bytes) -> str:
    """Names a key without revealing it: the start of a digest of it."""
    return hashlib.sha256(b"ottoscaler payload key\0" + key).hexdigest()[:16]


class EncryptionCodec(PayloadCodec):
    """keys: the first encrypts, all decrypt; none: payloads pass plain, sealed ones fail."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        self._ciphers = {key_id(key): AESGCM(key) for key in keys}
        self._encrypting = key_id(keys[0]) if keys else None

    async def encode(self, payloads: Iterable[Payload]) -> list[Payload]:
        return self.sealed(payloads)

    async def decode(self, payloads: Iterable[Payload]) -> list[Payload]:
        return self.opened(payloads)

    def sealed(self, payloads: Iterable[Payload]) -> list[Payload]:
        if self._encrypting is None:
            return list(payloads)
        cipher = self._ciphers[self._encrypting]
        metadata = {"encoding": ENCODING, KEY_ID: self._encrypting.encode()}
        sealed = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            data = nonce + cipher.encrypt(nonce, payload.SerializeToString(), None)
            sealed.append(Payload(metadata=metadata, data=data))
        return sealed

    def opened(self, payloads: Iterable[Payload]) -> list[Payload]:
        return [self._open(payload) for payload in payloads]

    def _open(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # written before encryption was on
        named = payload.metadata.get(KEY_ID, b"").decode(errors="replace")
        cipher = self._ciphers.get(named)
        if cipher is None:
            raise PayloadKeyMissing(
                f"a payload is encrypted with key id {named!r}, which is not among the "
                f"{len(self._ciphers)} key(s) of {KEY_SETTING}"
            )
        try:
            plain = cipher.decrypt(payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], None)
        except InvalidTag as err:
            raise PayloadKeyMissing(f"a payload of key id {named!r} does not decrypt") from err
        return Payload.FromString(plain)


def data_converter(codec: PayloadCodec | None) -> DataConverter:
    """Ottoscaler's converter (pydantic), with the codec and encoded failures when given."""
    if codec is None:
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def encrypting(client: Client, codec: PayloadCodec | None) -> Client:
    """The same connection, its payloads through the codec (None: the client as it is)."""
    if codec is None:
        return client
    config = client.config()
    config["data_converter"] = data_converter(codec)
    return Client(**config)
