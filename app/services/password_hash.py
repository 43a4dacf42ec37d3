"""a1-hash-only domains: passwords are hashed on write and never stored (facts §2.2)."""
import hashlib

from app.errors import ValidationFailed
from app.schemas.known_names import lookup
from app.schemas.section_rules import MASK


def a1_hash(name: str, realm: str, password: str) -> str:
    """Lowercase hex md5 of name:realm:password, as FreeSWITCH compares it."""
    return hashlib.md5(f"{name}:{realm}:{password}".encode()).hexdigest()


def hash_params(name: str, realm: str, param: dict, incoming: dict | None,
                template_param: dict | None) -> dict:
    """The own params of an extension of an a1-hash-only domain, with no plain password left.

    An own password becomes `a1-hash`. An extension written without a password of its own
    (and never hashed before) hashes its template's password. `password` is then stored as
    null, which hides any template password for good: later template changes never put a
    plain password in this domain's directory.
    """
    # Names are matched ignoring letter case (FreeSWITCH reads `Password` as the password);
    # input is folded already, a row stored before that may not be.
    # A masked a1-hash sent back from GET means "keep it"; a new password then replaces it.
    if lookup(incoming, "password") not in (None, MASK) \
            and lookup(incoming, "a1-hash") not in (None, MASK):
        raise ValidationFailed("give password or a1-hash, not both", {"param": {"password": [
            "this domain stores only a1-hash: give password (hashed for you) or a1-hash, "
            "not both"]}})
    spellings = [v for k, v in param.items() if k.lower() == "password"]
    password = next((v for v in spellings if v is not None), None)
    if not spellings:
        password = lookup(template_param, "password")
    out = {k: v for k, v in param.items() if k.lower() != "password"}
    if password is not None:
        out = {k: v for k, v in out.items() if k.lower() != "a1-hash"}
        out["a1-hash"] = a1_hash(name, realm, str(password))
    out["password"] = None
    return out
