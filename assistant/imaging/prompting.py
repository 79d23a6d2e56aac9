"""Free text (English or Chinese) -> the condition an image model understands, or a clear "cannot draw".

"the digit seven", "draw five 7s", "画一个数字3" -> {digit: 7 | 7 | 3} (and a count where one is given);
"a small red triangle", "三个蓝色的圆" -> {shape, colour, size}. Folder datasets match their class names.
Compositional prompts ("two small red triangles and a large blue circle", "两个3和一个7") become one condition
and count per part, and English words that are neither drawable nor filler are named back, not silently dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

NUMBER_WORDS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
                "eight": 8, "nine": 9, "ten": 10, "a": 1, "an": 1, "a couple of": 2, "a few": 3, "several": 4}
DIGIT_WORDS = {w: v for w, v in NUMBER_WORDS.items() if len(w) > 2 and v <= 9}
PLURAL_DIGITS = {"zeros": 0, "zeroes": 0, "ones": 1, "twos": 2, "threes": 3, "fours": 4, "fives": 5, "sixes": 6,
                 "sevens": 7, "eights": 8, "nines": 9}
CN_NUMERALS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
               "九": 9, "十": 10}
DEFAULT_COUNT = 4  # images drawn when a request names no count
CN_MEASURE = "个张幅只枚颗"  # measure words: "三个" is a count, not the digit 3 ("六颗星星": 颗 for stars)

# Synonyms for the shapes dataset's attribute values.
SYNONYMS = {
    "circle": ["circle", "circles", "round", "disc", "disk", "dot", "圆形", "圆圈", "圆"],
    "square": ["square", "squares", "box", "正方形", "方形", "方块"],
    "triangle": ["triangle", "triangles", "三角形", "三角"],
    "star": ["star", "stars", "五角星", "星星", "星形", "星"],
    "red": ["red", "红色", "红"],
    "green": ["green", "绿色", "绿"],
    "blue": ["blue", "蓝色", "蓝"],
    "yellow": ["yellow", "gold", "黄色", "黄"],
    "small": ["small", "little", "tiny", "小"],
    "large": ["large", "big", "huge", "大"],
}
# Things people ask for that no shipped model draws: named in the error instead of silently ignored.
UNDRAWABLE = ["purple", "orange", "pink", "black", "white", "brown", "grey", "gray", "hexagon", "pentagon",
              "heart", "oval", "rectangle", "diamond", "cat", "dog", "flower", "face", "car", "house", "tree",
              "紫", "橙", "粉", "黑", "白", "棕", "灰", "六边形", "五边形", "心形", "椭圆", "长方形", "菱形",
              "猫", "狗", "花", "脸", "车", "房子", "树", "字母", "letter"]


class PromptError(ValueError):
    """The prompt asks for something this model cannot draw (the message says what it can)."""


@dataclass
class Condition:
    """What to draw: attribute -> value index (missing attributes are random), and a count if the text had one."""

    values: dict[str, int] = field(default_factory=dict)
    count: int | None = None

    def describe(self, attributes: dict[str, list[str]]) -> str:
        if not self.values:
            return "anything (unconditional)"
        return ", ".join(f"{attr}={attributes[attr][idx]}" for attr, idx in self.values.items())


def capabilities(attributes: dict[str, list[str]]) -> str:
    """One line saying what a model with these attributes can draw."""
    if list(attributes) == ["digit"]:
        return "digits 0-9 (e.g. 'digit 7', 'the digit seven', '画一个数字3')"
    return "; ".join(f"{attr}: {', '.join(values)}" for attr, values in attributes.items())


def _number(token: str) -> int | None:
    token = token.strip().lower()
    if token.isdigit():
        return int(token)
    if token in NUMBER_WORDS:
        return NUMBER_WORDS[token]
    if token in PLURAL_DIGITS:
        return PLURAL_DIGITS[token]
    if token.endswith("s") and token[:-1].isdigit():
        return int(token[:-1])
    if token in CN_NUMERALS:
        return CN_NUMERALS[token]
    return None


def _count(text: str) -> int | None:
    """A count written as a number before a measure word or a plural noun: "三个", "5 images", "five 7s"."""
    match = re.search(rf"([0-9]+|[{''.join(CN_NUMERALS)}])\s*[{CN_MEASURE}]", text)
    if match:
        return _number(match.group(1))
    words = "|".join(sorted((w for w in NUMBER_WORDS if " " not in w and len(w) > 2), key=len, reverse=True))
    match = re.search(rf"\b([0-9]+|{words}|a couple of|a few|several)\s+(?:images?|pictures?|samples?|of\b|"
                      rf"(?:[a-z]+\s+){{0,3}}[a-z0-9]+s\b)", text)
    return _number(match.group(1)) if match else None


def _digit(text: str) -> int | None:
    """The digit asked for: after "digit/number/数字", else a plural digit ("7s", "sevens"), else a lone digit."""
    match = re.search(r"(?:digit|number|数字)\s*(?:of\s+)?(?:a\s+)?([0-9]+|[a-z]+|[零〇一二两三四五六七八九十])", text)
    if match and _number(match.group(1)) is not None:
        return _number(match.group(1))
    match = re.search(r"\b([0-9])s\b|\b(zeroe?s|ones|twos|threes|fours|fives|sixes|sevens|eights|nines)\b", text)
    if match:
        return _number(match.group(1) or match.group(2))
    found = [(m.start(), int(m.group())) for m in re.finditer(r"(?<![0-9])[0-9]+(?![0-9])", text)]
    found += [(m.start(), DIGIT_WORDS[m.group(1)]) for m in re.finditer(r"\b(" + "|".join(DIGIT_WORDS) + r")\b", text)]
    found += [(i, CN_NUMERALS[c]) for i, c in enumerate(text)
              if c in CN_NUMERALS and text[i + 1:i + 2] not in tuple(CN_MEASURE)]
    if not found:
        return None
    found = [value for _, value in sorted(found)]
    return found[-1]  # "draw five 7" / "画三个7": the count comes first, the thing drawn last


def parse_prompt(prompt: str | int | None, attributes: dict[str, list[str]]) -> Condition:
    """Map a prompt (or a class index / class name) onto `attributes`; raise PromptError naming what is drawable."""
    can = capabilities(attributes)
    if prompt is None or (isinstance(prompt, str) and prompt.strip().lower() in ("", "any", "anything", "random")):
        return Condition()
    first = next(iter(attributes))
    if isinstance(prompt, int) and not isinstance(prompt, bool):
        if not 0 <= prompt < len(attributes[first]):
            raise PromptError(f"class {prompt} is out of range; this model draws {can}")
        return Condition({first: prompt})
    text = str(prompt).strip().lower()
    if text in attributes[first]:  # an exact class name, e.g. "7" or "daisy"
        return Condition({first: attributes[first].index(text)}, _count(text))
    known = {w for names in attributes.values() for name in names for w in SYNONYMS.get(name, [name])}
    for bad in UNDRAWABLE:
        if bad not in known and re.search(rf"\b{bad}s?\b" if bad.isascii() else bad, text):
            raise PromptError(f"this model cannot draw {bad!r}; it draws {can}")
    count = _count(text)
    if list(attributes) == ["digit"]:
        digit = _digit(text)
        if digit is None:
            raise PromptError(f"no digit found in {prompt!r}; this model draws {can}")
        if digit > 9:
            raise PromptError(f"{digit} is not a single digit; this model draws {can}")
        return Condition({"digit": digit}, count)
    values: dict[str, int] = {}
    for attr, names in attributes.items():
        for idx, name in enumerate(names):
            for word in SYNONYMS.get(name, [name]):
                pattern = rf"\b{re.escape(word)}\b" if word.isascii() else re.escape(word)
                if re.search(pattern, text) and attr not in values:
                    values[attr] = idx
    if not values:
        raise PromptError(f"nothing in {prompt!r} matches what this model draws: {can}")
    return Condition(values, count)


def guess_dataset(prompt: str | int | None) -> str:
    """For model 'auto': digits when the prompt says "digit", else shapes when it names a shape or colour."""
    if prompt is None or isinstance(prompt, int):
        return "digits"
    text = str(prompt).lower()
    if re.search(r"\bdigits?\b|数字", text):  # "blue digit 3": a digit; the colour is named back as unknown
        return "digits"

    def names(keys: tuple[str, ...]) -> bool:
        words = [w for key in keys for w in SYNONYMS[key]]
        return any((re.search(rf"\b{w}\b", text) if w.isascii() else w in text) for w in words)

    if names(("circle", "square", "triangle", "star")):
        return "shapes"
    # a numeral and no shape: the numeral is what to draw ("blue 3", "蓝色的3"), not a count of blue shapes; so is a
    # digit said as a plural word ("blue nines", "two red sevens"), but not "ones" ("three red ones")
    if re.search(r"(?<![0-9])[0-9](?![0-9])", text):
        return "digits"
    if any(re.search(rf"\b{word}\b", text) for word in PLURAL_DIGITS if word != "ones"):
        return "digits"
    return "shapes" if names(("red", "green", "blue", "yellow")) else "digits"


# --- compositional prompts ---------------------------------------------------------------------------------------
PART_SEPARATORS = re.compile(
    r"\s*(?:,|;|\band\b|\bplus\b|\bthen\b|\balong with\b|\bas well as\b|\btogether with\b"
    r"|，|、|；|以及|还有|和|与|跟)\s*"
)
# Words that carry no attribute: verbs of asking, articles, image nouns. Anything else unknown is named back.
FILLER = {"draw", "make", "generate", "create", "show", "render", "paint", "sketch", "give", "get", "me", "us",
          "please", "some", "of", "the", "a", "an", "and", "with", "image", "images", "picture", "pictures",
          "sample", "samples", "in", "on", "colour", "color", "coloured", "colored", "shape", "shapes", "shaped",
          "size", "sized", "digit", "digits", "number", "numbers", "written", "handwritten", "hand", "for", "i",
          "want", "would", "like", "can", "you", "could", "plus", "each", "also", "them", "it", "is", "are",
          "that", "this", "both", "just", "only", "more", "another", "other", "then", "my", "our", "let", "see",
          "need", "have", "one", "ones", "kind", "kinds", "type", "types", "style", "how", "about", "to", "be",
          "along", "as", "well", "together"}


@dataclass
class Composition:
    """A prompt as parts, each a Condition with its count, plus the English words that were not understood."""

    parts: list[Condition]
    unknown: list[str] = field(default_factory=list)

    @property
    def compositional(self) -> bool:
        return len(self.parts) > 1

    def counts(self, n: int | None = None) -> list[int]:
        """Images per part, as the image tool draws them: in a composition each part's own count (1 where it names
        none, and `n` is ignored); a single part `n` times, else its count, else DEFAULT_COUNT."""
        if self.compositional:
            return [part.count or 1 for part in self.parts]
        return [int(n) if n is not None else (self.parts[0].count or DEFAULT_COUNT)]

    def per_image(self) -> list[dict[str, int]]:
        """One condition per image: each part repeated by its count (1 where the part gave none)."""
        return [dict(part.values) for part in self.parts for _ in range(part.count or 1)]

    def describe(self, attributes: dict[str, list[str]]) -> str:
        return "; ".join(f"{part.count or 1} × {part.describe(attributes)}" for part in self.parts)


def _names_first_attribute(piece: str, attributes: dict[str, list[str]]) -> bool:
    """Does this piece of a prompt say which digit / shape / class it wants?"""
    try:
        return next(iter(attributes)) in parse_prompt(piece, attributes).values
    except PromptError:
        return False


def _vocabulary(attributes: dict[str, list[str]]) -> set[str]:
    words = set(FILLER) | set(NUMBER_WORDS) | set(PLURAL_DIGITS) | {w for w in attributes}
    for names in attributes.values():
        for name in names:
            for synonym in SYNONYMS.get(name, [name]):
                words.update(re.findall(r"[a-z]+", synonym.lower()))
    return words


def unknown_words(text: str, attributes: dict[str, list[str]]) -> list[str]:
    """English words in `text` that name no attribute value, number or filler (in order, once each)."""
    vocabulary = _vocabulary(attributes)
    found: list[str] = []
    for word in re.findall(r"\b[a-z]+\b", str(text).lower()):  # "7s" is a digit, not the word "s"
        stems = {word, word[:-1] if word.endswith("s") else word, word[:-2] if word.endswith("es") else word}
        if not stems & vocabulary and word not in found:
            found.append(word)
    return found


def parse_composition(prompt: str | int | None, attributes: dict[str, list[str]]) -> Composition:
    """Split a prompt into parts ("X and Y", "X, Y", "X和Y"), each parsed by `parse_prompt` with its own count.

    A piece that does not say which digit/shape it wants ("a small, red triangle": "a small") is joined to the
    next piece, so commas inside one description do not split it. A single part keeps `parse_prompt`'s meaning
    (its count may be None); in a composition every part counts 1 unless it says otherwise.
    """
    if prompt is None or isinstance(prompt, int):
        return Composition([parse_prompt(prompt, attributes)])
    text = str(prompt).strip()
    pieces = [p for p in PART_SEPARATORS.split(text.lower()) if p.strip()]
    merged: list[str] = []
    carry = ""
    for piece in pieces:
        piece = f"{carry} {piece}".strip()
        if _names_first_attribute(piece, attributes):
            merged.append(piece)
            carry = ""
        else:
            carry = piece
    if carry and merged:
        merged[-1] = f"{merged[-1]} {carry}"
    unknown = unknown_words(text, attributes)
    if len(merged) <= 1:
        return Composition([parse_prompt(prompt, attributes)], unknown)
    return Composition([parse_prompt(piece, attributes) for piece in merged], unknown)
