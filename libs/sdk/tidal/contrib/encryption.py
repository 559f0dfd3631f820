"""AES-GCM payload encryption: payloads in Postgres, on the broker and in HTTP responses are
opaque to the server and to anyone reading them there.

    codec = EncryptionCodec(keys={"2026-11": key_bytes}, encrypt_with="2026-11")
    client = await Client.connect(address, data_converter=DataConverter(payload_codec=codec))

Every client and worker of a namespace must use the same keys. Keys are 16, 24 or 32 bytes
(AES-128/192/256). To rotate, add the new key, switch `encrypt_with` to it, and keep the old
one for as long as histories encrypted with it may be read (their retention period). Needs
`pip install 'tidal[encryption]'` (the `cryptography` package).
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping, Sequence

from tidal_schema import Payload

from ..converter import PayloadCodec
from ..exceptions import TidalError

__all__ = [
    "DecryptionError",
    "EncryptionCodec",
]

ENCODING = "binary/encrypted"
KEY_ID = "encryption-key-id"
_NONCE_BYTES = 12


class DecryptionError(TidalError):
    """A payload could not be decrypted: unknown key id, wrong key, or tampered data."""


class EncryptionCodec(PayloadCodec):
    def __init__(self, *, keys: Mapping[str, bytes], encrypt_with: str | None = None) -> None:
        try:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise TidalError("EncryptionCodec needs `pip install 'tidal[encryption]'`") from exc
        if not keys:
            raise ValueError("EncryptionCodec needs at least one key")
        current = encrypt_with if encrypt_with is not None else next(iter(keys))
        if current not in keys:
            raise ValueError(f"encrypt_with={current!r} is not one of the keys ({', '.join(keys)})")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._current = current

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        cipher = self._ciphers[self._current]
        out = []
        for p in payloads:
            nonce = os.urandom(_NONCE_BYTES)
            plain = p.model_dump_json().encode()
            # The key id is authenticated too: a payload cannot be replayed under another key id.
            sealed = cipher.encrypt(nonce, plain, self._current.encode())
            out.append(
                Payload(
                    metadata={"encoding": ENCODING, KEY_ID: self._current},
                    data=base64.b64encode(nonce + sealed).decode(),
                )
            )
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for p in payloads:
            if p.metadata.get("encoding") != ENCODING:
                out.append(p)  # not ours (e.g. sent as plain JSON through the HTTP API)
                continue
            key_id = str(p.metadata.get(KEY_ID, ""))
            cipher = self._ciphers.get(key_id)
            if cipher is None:
                raise DecryptionError(f"payload encrypted with unknown key id {key_id!r}")
            try:
                raw = base64.b64decode(str(p.data))
                plain = cipher.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], key_id.encode())
            except Exception as exc:
                raise DecryptionError(f"cannot decrypt payload (key id {key_id!r}): {exc!r}") from exc
            out.append(Payload.model_validate(json.loads(plain)))
        return out
