"""What a drawing request asks for, group by group, read as the image tool reads it (the built-in models).

Used by the tool step to check the model's call against the user's own words: the call still runs as the model
decided, and a request with more groups than the call draws gets a note saying so, with a command that draws them
all, and an offer to draw them all (a proposed call the user confirms with one click). The tool-decision benchmark
scores drawings with the same reading.
"""

from __future__ import annotations

from dataclasses import dataclass

from assistant.imaging.prompting import PromptError, guess_dataset, parse_composition

SUBJECT_KEYS = {"digit": "subject", "shape": "subject", "colour": "color", "size": "size"}


def built_in_attributes(text: str) -> dict[str, list[str]]:
    """The attributes of the built-in model the text would be drawn with (digits or shapes)."""
    from assistant.imaging.datasets import COLOURS, SHAPES, SIZES

    if guess_dataset(text) == "digits":
        return {"digit": [str(d) for d in range(10)]}
    return {"shape": list(SHAPES), "colour": list(COLOURS), "size": list(SIZES)}


def drawn_groups(prompt: str, n: object = None) -> list[dict]:
    """[{"subject", "n", "color"?, "size"?}] for a call's prompt, as `generate_images` draws it (the counts of
    `Composition.counts`); [] when the prompt names nothing drawable."""
    attributes = built_in_attributes(prompt)
    try:
        composition = parse_composition(prompt, attributes)
    except PromptError:
        return []
    counts = composition.counts(int(n) if isinstance(n, int | float) and not isinstance(n, bool) else None)
    groups = []
    for part, count in zip(composition.parts, counts, strict=True):
        group = {SUBJECT_KEYS[attr]: attributes[attr][index] for attr, index in part.values.items()}
        if "subject" not in group:
            return []
        groups.append({**group, "n": count})
    return groups


NUMBER_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
                "twelve"]


def describe(group: dict) -> str:
    """'two large red stars', 'one 7' (a phrase the image tool reads back as the same group; a count in words, so
    that it is never read as a digit)."""
    n = group["n"]
    count = NUMBER_NAMES[n] if n < len(NUMBER_NAMES) else str(n)
    plural = "s" if n > 1 else ""
    if group["subject"].isdigit():
        return f"{count} {group['subject']}{plural}"
    words = [w for w in (group.get("size"), group.get("color")) if w]
    return " ".join([count, *words, group["subject"] + plural])


@dataclass
class MissingGroups:
    note: str  # what the reply says
    arguments: dict  # a generate_images call that draws every group the message names


def missing_groups(message: str, arguments: dict) -> MissingGroups | None:
    """When the user's message names more drawable groups than the call draws: a note, and the call that draws all.

    Only for a message that reads as two or more groups, each of the call's groups one of them (perhaps with an
    attribute left out), so a call that draws something else altogether is the model's choice, not a miss."""
    asked = drawn_groups(message)
    if len(asked) < 2:
        return None
    drawn = drawn_groups(str(arguments.get("prompt", "")), arguments.get("n"))

    def part_of_the_request(group: dict) -> bool:  # an asked group, maybe with an attribute left out
        return any(all(a.get(key) == value for key, value in group.items() if key != "n") for a in asked)

    if not drawn or len(drawn) >= len(asked) or not all(map(part_of_the_request, drawn)):
        return None
    phrase = " and ".join(describe(g) for g in asked)
    model = arguments.get("model")
    command = f"/draw {phrase}" + (f" with {model}" if model and model != "auto" else "")
    note = (f"Your message asks for {len(asked)} groups ({'; '.join(describe(g) for g in asked)}), and this call "
            f"drew {'; '.join(describe(g) for g in drawn)} only. To draw them all at once: `{command}`")
    # the counts are in the phrase; the call's other choices (model, seed, temperature) stay
    every = {**{k: v for k, v in arguments.items() if k not in ("prompt", "n")}, "prompt": phrase}
    return MissingGroups(note, every)
