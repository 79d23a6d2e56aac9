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


def test_a_compositional_request_needs_every_group_drawn():
    """test15's rows list the groups; the call is right when the tool draws exactly those, in any order."""
    want = {"parts": [{"subject": "star", "n": 2, "color": "red", "size": "large"},
                      {"subject": "circle", "n": 1, "color": "blue", "size": "small"}]}
    assert args_ok("generate_images", want, {"prompt": "two large red stars and a small blue circle"})
    assert args_ok("generate_images", want, {"prompt": "a small blue circle, 2 big red stars"})  # any order
    assert args_ok("generate_images", want, {"prompt": "两个大的红色星星和一个小的蓝色圆形"})
    assert not args_ok("generate_images", want, {"prompt": "large red stars", "n": 2})  # the second group lost
    assert not args_ok("generate_images", want, {"prompt": "two red stars and a small blue circle"})  # size lost
    assert not args_ok("generate_images", want, {"prompt": "three large red stars and a small blue circle"})
    # a single group: n from the call, else the prompt's count; a row without n leaves it to the tool
    assert args_ok("generate_images", {"parts": [{"subject": "7", "n": 3}]}, {"prompt": "three 7s"})
    assert args_ok("generate_images", {"parts": [{"subject": "7", "n": 3}]}, {"prompt": "digit 7", "n": 3})
    assert not args_ok("generate_images", {"parts": [{"subject": "7", "n": 3}]}, {"prompt": "digit 7"})  # draws 4
    assert args_ok("generate_images", {"parts": [{"subject": "star"}]}, {"prompt": "a star"})
