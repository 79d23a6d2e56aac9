"""The tool-decision scorer reads a drawing's subject and colour as the image tool does, not by substring."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from tools_eval import args_ok  # noqa: E402


def test_a_drawing_is_scored_by_what_the_tool_would_draw():
    nine = {"subject": "9", "n": 3, "color": "blue"}
    assert args_ok("generate_images", nine, {"prompt": "blue nines", "n": 3})  # a substring check missed it
    assert args_ok("generate_images", nine, {"prompt": "蓝色的数字9", "n": 3})
    assert not args_ok("generate_images", nine, {"prompt": "blue squares", "n": 3})
    assert not args_ok("generate_images", nine, {"prompt": "digit 9", "n": 3})  # the colour was dropped
    assert not args_ok("generate_images", {"subject": "1"}, {"prompt": "digit 10"})  # mentions a 1, draws nothing
    assert args_ok("generate_images", {"subject": "star", "color": "red"}, {"prompt": "红色的五角星"})
    assert not args_ok("generate_images", {"subject": "star", "color": "red"}, {"prompt": "yellow stars"})
    # a colour no model draws is right when the call carries it (the tool says it cannot draw it)
    assert args_ok("generate_images", {"subject": "triangle", "color": "orange"}, {"prompt": "orange triangle"})
    assert not args_ok("generate_images", {"subject": "triangle", "color": "orange"}, {"prompt": "triangle"})
    assert args_ok("generate_images", {"subject": "star", "model": "gan"}, {"prompt": "stars", "model": "gan-shapes"})
    assert not args_ok("generate_images", {"subject": "star", "model": "gan"}, {"prompt": "stars"})
