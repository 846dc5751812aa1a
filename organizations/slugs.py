import re
import unicodedata

MAX_DOMAIN_LENGTH = 50  # leaves room for a collision suffix within the 63 of the column

# Letters that Unicode does not decompose into an ASCII base letter plus accents, so NFKD alone would
# drop them ("Straße" -> "strae", "Ørsted" -> "rsted"): the usual Latin transliterations, and Cyrillic
# and Greek letter by letter (ISO 9 / ELOT 743 simplified), so "Газпром" is "gazprom" rather than "org".
_LATIN = {
    "ß": "ss",
    "æ": "ae",
    "ø": "o",
    "œ": "oe",
    "ł": "l",
    "đ": "d",
    "ð": "d",
    "þ": "th",
    "ħ": "h",
    "\u0131": "i",
    "ŀ": "l",
    "ĸ": "k",
    "ŋ": "n",
    "ŧ": "t",
    "\u017f": "s",
}
_CYRILLIC = dict(
    zip(
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюяіїєґўђјљњћџѕ",
        [
            "a",
            "b",
            "v",
            "g",
            "d",
            "e",
            "e",
            "zh",
            "z",
            "i",
            "i",
            "k",
            "l",
            "m",
            "n",
            "o",
            "p",
            "r",
            "s",
            "t",
            "u",
            "f",
            "kh",
            "ts",
            "ch",
            "sh",
            "shch",
            "",
            "y",
            "",
            "e",
            "iu",
            "ia",
            "i",
            "i",
            "ie",
            "g",
            "u",
            "dj",
            "j",
            "lj",
            "nj",
            "c",
            "dz",
            "dz",
        ],
        strict=True,
    )
)
_GREEK = dict(
    zip(
        "αβγδεζηθικλμνξοπρσςτυφχψω",
        [
            "a",
            "v",
            "g",
            "d",
            "e",
            "z",
            "i",
            "th",
            "i",
            "k",
            "l",
            "m",
            "n",
            "x",
            "o",
            "p",
            "r",
            "s",
            "s",
            "t",
            "y",
            "f",
            "ch",
            "ps",
            "o",
        ],
        strict=True,
    )
)
_TRANSLITERATION = str.maketrans({**_LATIN, **_CYRILLIC, **_GREEK})


def domain_slug(name: str) -> str:
    """`"Misapret"` -> `misapret`, `"B'Oréal"` -> `b-oreal`: accents folded, every other run of
    non-alphanumerics becomes one hyphen. Names with nothing left (`"株式会社"`) get `org`."""
    # Greek letters carry their accents as combining marks: take them off before transliterating.
    decomposed = unicodedata.normalize("NFKD", name.lower())
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    ascii_only = unicodedata.normalize("NFKD", bare.translate(_TRANSLITERATION)).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_only.lower()).strip("-")
    slug = slug[:MAX_DOMAIN_LENGTH].rstrip("-")
    return slug or "org"
