import re
import unicodedata

MAX_DOMAIN_LENGTH = 50  # leaves room for a collision suffix within the 63 of the column


def domain_slug(name: str) -> str:
    """`"Misapret"` -> `misapret`, `"B'Oréal"` -> `b-oreal`: accents folded, every other run of
    non-alphanumerics becomes one hyphen. Names with nothing left (`"株式会社"`) get `org`."""
    folded = unicodedata.normalize("NFKD", name)
    ascii_only = "".join(ch for ch in folded if not unicodedata.combining(ch)).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_only.lower()).strip("-")
    slug = slug[:MAX_DOMAIN_LENGTH].rstrip("-")
    return slug or "org"
