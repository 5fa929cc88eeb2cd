"""C2PA Content Credentials (c2pa-python): a manifest signed with the user's certificate, embedded in the
output, saying that an algorithm edited it (action c2pa.edited with an IPTC digital source type), what it was
made from (the footage as the parentOf ingredient) and by which task; `read_credentials` validates it.

c2pa embeds in MP4/MOV/M4V, PNG, JPEG and TIFF; it cannot in Matroska, EXR or an image sequence as a whole,
and such outputs are marked in their metadata only (said in one line). Signing needs no network: without a
timestamp authority the signature's validity rests on the certificate's validity period.
"""

from __future__ import annotations

import io
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import c2pa

from ..core.atomic import atomic_path
from ..core.errors import InputError, OptionError
from .marks import EditMark

log = logging.getLogger("facex_video.media")

MIME = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime", ".png": "image/png",
        ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".tif": "image/tiff", ".tiff": "image/tiff"}
IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
# a model trained on data (facex, inswapper) vs the geometric renderer, which no training data shaped
SOURCE_TYPE = {"facex": "trainedAlgorithmicMedia", "inswapper": "trainedAlgorithmicMedia",
               "geometric": "algorithmicMedia"}
ENV = {"--sign-cert": "FACEX_SIGN_CERT", "--sign-key": "FACEX_SIGN_KEY"}


@dataclass(frozen=True)
class SigningKey:
    """The user's signing certificate chain (PEM, end-entity first) and private key (PEM), read up front."""

    chain: bytes
    key: bytes
    alg: c2pa.C2paSigningAlg

    @classmethod
    def load(cls, cert: str | Path | None, key: str | Path | None) -> SigningKey | None:
        """From --sign-cert/--sign-key, else FACEX_SIGN_CERT/FACEX_SIGN_KEY; None when neither is given.
        OptionError naming the flag for one without the other, an unreadable file or an unusable key."""
        cert = cert or os.environ.get(ENV["--sign-cert"])
        key = key or os.environ.get(ENV["--sign-key"])
        if not cert and not key:
            return None
        if not cert or not key:
            flag = "--sign-key" if cert else "--sign-cert"
            raise OptionError(flag, f"signing needs both --sign-cert and --sign-key (or {ENV[flag]})")
        pem = {}
        for flag, path in (("--sign-cert", cert), ("--sign-key", key)):
            try:
                pem[flag] = Path(path).read_bytes()
            except OSError as e:
                raise OptionError(flag, f"{path}: cannot read ({e.strerror})") from None
        return cls(pem["--sign-cert"], pem["--sign-key"], _algorithm(pem["--sign-key"]))


def _algorithm(key: bytes) -> c2pa.C2paSigningAlg:
    """The signing algorithm a private key's type implies (EC P-256/384/521, RSA-PSS, Ed25519)."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        private = load_pem_private_key(key, password=None)
    except (ValueError, TypeError) as e:
        raise OptionError("--sign-key", f"not an unencrypted PEM private key ({e})") from None
    if isinstance(private, ec.EllipticCurvePrivateKey):
        curves = {"secp256r1": c2pa.C2paSigningAlg.ES256, "secp384r1": c2pa.C2paSigningAlg.ES384,
                  "secp521r1": c2pa.C2paSigningAlg.ES512}
        if private.curve.name in curves:
            return curves[private.curve.name]
    if isinstance(private, rsa.RSAPrivateKey):
        return c2pa.C2paSigningAlg.PS256
    if isinstance(private, ed25519.Ed25519PrivateKey):
        return c2pa.C2paSigningAlg.ED25519
    raise OptionError("--sign-key", "C2PA signs with EC P-256/384/521, RSA (PSS) or Ed25519 keys")


def manifest(mark: EditMark, title: str) -> dict:
    """The manifest: the footage opened, then edited by an algorithm of the backend's kind."""
    agent = {"name": mark.tool, "version": mark.version}
    return {
        "claim_generator_info": [agent], "title": title,
        "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [
            {"action": "c2pa.opened", "parameters": {"ingredientIds": ["footage"]}},
            {"action": "c2pa.edited", "softwareAgent": agent, "description": mark.comment(),
             "digitalSourceType": IPTC + SOURCE_TYPE.get(mark.backend or "", "algorithmicMedia"),
             "parameters": {"facex": json.loads(mark.to_json())}}]}}],
    }


def sign(output: Path, footage: Path, mark: EditMark, key: SigningKey) -> bool:
    """Embed the signed manifest in `output` (replaced atomically); False, said in one line, for a format c2pa
    cannot embed in."""
    mime = MIME.get(output.suffix.lower())
    if mime is None:
        log.warning("%s: C2PA cannot embed Content Credentials in %s; marked in its metadata only", output,
                    output.suffix or "this format")
        return False
    context = c2pa.Context(c2pa.Settings.from_dict({"builder": {"thumbnail": {"enabled": False}}}))
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(key.alg, key.chain, key.key, None))
    with c2pa.Builder(manifest(mark, output.name), context=context) as builder:
        ingredient = {"title": footage.name, "relationship": "parentOf", "label": "footage"}
        footage_mime = MIME.get(footage.suffix.lower())
        if footage_mime is not None and footage.is_file():
            with open(footage, "rb") as f:
                builder.add_ingredient(ingredient, footage_mime, f)
        else:  # a footage format c2pa cannot read (AVI, Matroska, a sequence): named, not hashed
            builder.add_ingredient(ingredient, "application/octet-stream", io.BytesIO(b""))
        with open(output, "rb") as src, atomic_path(output) as temp, open(temp, "wb") as dst:
            builder.sign(signer, mime, src, dst)
    return True


@dataclass(frozen=True)
class Credentials:
    """What `read_credentials` found: the validation state (Invalid, Valid: signature sound but the signer not
    in `trust`, Trusted), the failure codes, the signer and the actions."""

    state: str
    failures: tuple[str, ...]
    signer: str
    actions: tuple[str, ...]


def read_credentials(path: Path, trust: bytes | None = None) -> Credentials | None:
    """The Content Credentials embedded in `path`, validated (against `trust`, PEM anchors, when given); None
    when there are none or c2pa cannot read the format."""
    mime = MIME.get(path.suffix.lower())
    if mime is None:
        return None
    settings: dict = {"verify": {"verify_trust": trust is not None}}
    if trust is not None:
        settings["trust"] = {"user_anchors": trust.decode()}
    try:
        with open(path, "rb") as f, c2pa.Reader(mime, f, context=c2pa.Context(c2pa.Settings.from_dict(settings))) \
                as reader:
            doc = json.loads(reader.json())
            state = str(reader.get_validation_state())
            results = reader.get_validation_results() or {}
    except OSError as e:
        raise InputError(path, f"cannot read ({e.strerror})") from None
    except c2pa.C2paError:
        return None  # no manifest, or one c2pa cannot parse: unsigned as far as anyone can tell
    active = doc.get("manifests", {}).get(doc.get("active_manifest", ""), {})
    actions = tuple(a.get("action", "") for assertion in active.get("assertions", [])
                    if assertion.get("label", "").startswith("c2pa.actions")
                    for a in assertion.get("data", {}).get("actions", []))
    failures = tuple(f.get("code", "") for f in _failures(results))
    return Credentials(state.split(".")[-1], failures, active.get("signature_info", {}).get("issuer", ""), actions)


def _failures(results: dict) -> list[dict]:
    manifest_results = results.get("activeManifest", {}) if isinstance(results, dict) else {}
    return list(manifest_results.get("failure", []))
