"""The bundle file: an uncompressed POSIX tar (wheels are compressed already) holding

```
manifest.json            the Manifest, canonical JSON (keys sorted, UTF-8), signed as these exact bytes
signature.json           {"algorithm": "SM2-with-SM3", "keyId": "sm2:…", "uid": …, "value": base64 DER}
wheels/<name>.whl        wheels to install (gtsdk itself, driver plugins, their dependencies)
config/terminal.toml     a new terminal configuration (optional)
```

Reading is bounded: the bundle's size, the number of members, each member's size and name (regular files
only, no links, no absolute or dot paths), the manifest's and the signature's size.  :func:`unpack` streams
every member into a staging directory while hashing it with SM3 and refuses a bundle whose files differ in any
way from what the signed manifest lists.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import os
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gtsdk.crypto import SM2PrivateKey, SM2PublicKey
from gtsdk.crypto.hashing import SM3
from gtsdk.errors import GtsdkError
from gtsdk.updates import errors as ue
from gtsdk.updates.manifest import CONFIG, MANIFEST, MEMBER, SIGNATURE, WHEELS, FileEntry, Manifest

MAX_BUNDLE_BYTES = 1 << 30
MAX_MEMBERS = 2002
MAX_MANIFEST_BYTES = 1 << 20
MAX_SIGNATURE_BYTES = 16 << 10
UID = "1234567812345678"
ALGORITHM = "SM2-with-SM3"
_CHUNK = 1 << 20


def key_id(pub: SM2PublicKey) -> str:
    return f"sm2:{pub.fingerprint()[:16]}"


def canonical(manifest: Manifest) -> bytes:
    body = manifest.model_dump(mode="json", by_alias=True, exclude_none=True)
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _digest_file(path: Path) -> FileEntry:
    h = SM3()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return FileEntry(sm3=h.hexdigest(), size=size)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(mtime)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def build(out: Path, manifest: Manifest, *, wheels: Sequence[Path] = (), config: Path | None = None,
          key: SM2PrivateKey | None = None) -> Manifest:
    """Write the bundle *out*: the wheels and config are digested into the manifest's ``files``; signed when
    *key* is given (else :func:`sign` later).  Returns the manifest as written."""
    sources: dict[str, Path] = {}
    for w in wheels:
        if not w.name.endswith(".whl"):
            raise GtsdkError(ue.BUNDLE_INVALID, f"{w.name}: not a wheel")
        sources[WHEELS + w.name] = w
    if config is not None:
        sources[CONFIG] = config
    files = {name: _digest_file(p) for name, p in sorted(sources.items())}
    try:
        manifest = Manifest.model_validate({**manifest.model_dump(by_alias=True), "files": files})
    except ValidationError as e:
        raise GtsdkError(ue.BUNDLE_INVALID, _first(e)) from None
    body = canonical(manifest)
    tmp = out.with_name(f".{out.name}.part")
    mtime = manifest.created.timestamp()
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        _add_bytes(tar, MANIFEST, body, mtime)
        if key is not None:
            _add_bytes(tar, SIGNATURE, signature_for(body, key), mtime)
        for name, p in sorted(sources.items()):
            with p.open("rb") as f:
                info = tarfile.TarInfo(name)
                info.size = files[name].size
                info.mtime = int(mtime)
                info.mode = 0o644
                tar.addfile(info, f)
    os.replace(tmp, out)
    return manifest


def signature_for(manifest_bytes: bytes, key: SM2PrivateKey) -> bytes:
    sig = key.sign(manifest_bytes, UID)
    doc = {"algorithm": ALGORITHM, "keyId": key_id(key.public_key()), "uid": UID,
           "value": base64.b64encode(sig).decode()}
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def sign(path: Path, key: SM2PrivateKey, out: Path | None = None) -> None:
    """(Re)sign a built bundle: the manifest and files are copied byte for byte, signature.json replaced."""
    out = out or path
    tmp = out.with_name(f".{out.name}.part")
    with _open(path) as src, tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as dst:
        members = _members(src)
        body = _read_small(src, members, MANIFEST, MAX_MANIFEST_BYTES)
        if body is None:
            raise GtsdkError(ue.BUNDLE_INVALID, "no manifest.json")
        _parse_manifest(body)
        _add_bytes(dst, MANIFEST, body, members[MANIFEST].mtime)
        _add_bytes(dst, SIGNATURE, signature_for(body, key), members[MANIFEST].mtime)
        for name, m in members.items():
            if name in (MANIFEST, SIGNATURE):
                continue
            f = src.extractfile(m)
            assert f is not None
            dst.addfile(m, f)
    os.replace(tmp, out)


@dataclass
class Signed:
    """A bundle's manifest, its exact bytes, and the signature document (None when unsigned)."""

    manifest: Manifest
    manifest_bytes: bytes
    signature: dict[str, Any] | None

    @property
    def key_id(self) -> str | None:
        return None if self.signature is None else str(self.signature.get("keyId", ""))

    def verify_with(self, pub: SM2PublicKey) -> bool:
        if self.signature is None:
            return False
        try:
            sig = base64.b64decode(str(self.signature.get("value", "")), validate=True)
        except (binascii.Error, ValueError):
            return False
        uid = str(self.signature.get("uid", UID))
        try:
            return bool(pub.verify(sig, self.manifest_bytes, uid))
        except GtsdkError:
            return False


def _open(path: Path) -> tarfile.TarFile:
    try:
        size = path.stat().st_size
    except OSError as e:
        raise GtsdkError(ue.BUNDLE_INVALID, f"cannot read the bundle: {e.strerror}") from None
    if size > MAX_BUNDLE_BYTES:
        raise GtsdkError(ue.BUNDLE_INVALID, f"bundle is {size} bytes; at most {MAX_BUNDLE_BYTES}")
    try:
        return tarfile.open(path, "r:")
    except (tarfile.TarError, OSError):
        raise GtsdkError(ue.BUNDLE_INVALID, "not an uncompressed tar archive") from None


def _members(tar: tarfile.TarFile) -> dict[str, tarfile.TarInfo]:
    out: dict[str, tarfile.TarInfo] = {}
    try:
        for m in tar:
            if len(out) >= MAX_MEMBERS:
                raise GtsdkError(ue.BUNDLE_INVALID, f"more than {MAX_MEMBERS} members")
            if not m.isreg():
                raise GtsdkError(ue.BUNDLE_INVALID, f"{m.name!r}: only regular files are allowed")
            if not MEMBER.match(m.name):
                raise GtsdkError(ue.BUNDLE_INVALID, f"{m.name!r}: member name not allowed")
            if m.name in out:
                raise GtsdkError(ue.BUNDLE_INVALID, f"{m.name!r}: appears twice")
            out[m.name] = m
    except tarfile.TarError:
        raise GtsdkError(ue.BUNDLE_INVALID, "the tar archive is damaged") from None
    return out


def _read_small(tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo], name: str, limit: int) -> bytes | None:
    m = members.get(name)
    if m is None:
        return None
    if m.size > limit:
        raise GtsdkError(ue.BUNDLE_INVALID, f"{name} is {m.size} bytes; at most {limit}")
    f = tar.extractfile(m)
    assert f is not None
    return f.read(limit + 1)


def _first(e: ValidationError) -> str:
    err = e.errors()[0]
    loc = ".".join(str(x) for x in err["loc"])
    return f"manifest {loc}: {err['msg']}" if loc else f"manifest: {err['msg']}"


def _parse_manifest(body: bytes) -> Manifest:
    try:
        return Manifest.model_validate_json(body)
    except ValidationError as e:
        raise GtsdkError(ue.BUNDLE_INVALID, _first(e)) from None


def read_signed(path: Path) -> Signed:
    """The manifest and signature of a bundle (nothing verified yet but shape and bounds)."""
    with _open(path) as tar:
        members = _members(tar)
        body = _read_small(tar, members, MANIFEST, MAX_MANIFEST_BYTES)
        if body is None:
            raise GtsdkError(ue.BUNDLE_INVALID, "no manifest.json")
        manifest = _parse_manifest(body)
        sig_raw = _read_small(tar, members, SIGNATURE, MAX_SIGNATURE_BYTES)
    signature: dict[str, Any] | None = None
    if sig_raw is not None:
        try:
            doc = json.loads(sig_raw)
        except ValueError:
            raise GtsdkError(ue.SIGNATURE_INVALID, "signature.json is not JSON") from None
        if not isinstance(doc, dict) or doc.get("algorithm") != ALGORITHM:
            raise GtsdkError(ue.SIGNATURE_INVALID, f"signature.json: algorithm must be {ALGORITHM}")
        signature = doc
    return Signed(manifest, body, signature)


def unpack(path: Path, manifest: Manifest, dest: Path) -> None:
    """Extract the files the (already verified) manifest lists into *dest*, checking each SM3 digest and size
    while streaming; any missing, extra or altered file refuses the bundle (``update.tampered``)."""
    dest.mkdir(parents=True, exist_ok=True)
    with _open(path) as tar:
        members = _members(tar)
        extra = sorted(set(members) - set(manifest.files) - {MANIFEST, SIGNATURE})
        missing = sorted(set(manifest.files) - set(members))
        if extra or missing:
            raise GtsdkError(ue.TAMPERED, f"files not as signed: extra {extra[:3]}, missing {missing[:3]}")
        for name, entry in manifest.files.items():
            m = members[name]
            if m.size != entry.size:
                raise GtsdkError(ue.TAMPERED, f"{name}: {m.size} bytes, signed as {entry.size}")
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            h = SM3()
            src = tar.extractfile(m)
            assert src is not None
            with target.open("wb") as out:
                while chunk := src.read(_CHUNK):
                    h.update(chunk)
                    out.write(chunk)
            if h.hexdigest() != entry.sm3:
                raise GtsdkError(ue.TAMPERED, f"{name}: SM3 digest does not match the signed manifest")
