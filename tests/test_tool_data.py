"""The `tools` adapter's training data: valid calls, grounded arguments, the intended mix, no eval leakage."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from assistant.imaging.prompting import guess_dataset, parse_prompt
from assistant.tools.calculator import evaluate
from assistant.tools.decision import DECISION_SYSTEM, NO_TOOL, decision_messages, read_decision
from assistant.tools.parsing import validate_call
from assistant.training import tool_data

RESULT_PREFIX = "[result of "
SHAPE_ATTRIBUTES = {"shape": ["circle", "square", "triangle", "star"], "colour": ["red", "green", "blue", "yellow"],
                    "size": ["small", "large"]}
DIGIT_ATTRIBUTES = {"digit": [str(d) for d in range(10)]}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    tools, registry_tools = tool_data.app_tools(tmp_path_factory.mktemp("tool-data-app"))
    return tools, registry_tools


@pytest.fixture(scope="module")
def generated(app, tmp_path_factory):
    tools, registry_tools = app
    out = tmp_path_factory.mktemp("tool-data")
    convert = lambda arguments: str(registry_tools["convert_units"].invoke(arguments))  # noqa: E731
    tool_data.write(out, tools, convert, registry_tools=registry_tools)
    return {split: [json.loads(line) for line in (out / f"tools.{split}.jsonl").read_text("utf-8").splitlines()]
            for split in ("train", "eval")}, out


def request(example: dict) -> str:
    """The user's own message (the last user message that is not a tool result)."""
    return next(m["content"] for m in reversed(example["messages"])
                if m["role"] == "user" and not m["content"].startswith(RESULT_PREFIX))


def has_history(example: dict) -> bool:
    """Earlier user/assistant turns before the request (not the steps of this turn)."""
    messages = example["messages"][1:-1]
    first_request = next(i for i, m in enumerate(messages) if m["content"] == request(example))
    return first_request > 0


def is_multistep(example: dict) -> bool:
    return any(m["role"] == "user" and m["content"].startswith(RESULT_PREFIX) for m in example["messages"])


def client_tools(example: dict) -> list[dict] | None:
    """The client's tools when the example is a /v1 client's decision (full prompt), else None."""
    system = example["messages"][0]["content"]
    if not system.startswith(DECISION_SYSTEM.split("{")[0]):
        return None
    return [{"name": m.group(1)} for m in re.finditer(r"^- (\w+)\(", system, re.M)]


def is_chinese(text: str) -> bool:
    return bool(re.search(r"[\u4e00-\u9fff]", text))


def test_sizes_and_format(generated, app):
    splits, _ = generated
    tools, _ = app
    assert len(splits["train"]) == tool_data.TRAIN_SIZE >= 1000 and len(splits["eval"]) == tool_data.EVAL_SIZE >= 40
    system = decision_messages(tools, [], "x", compact=True)[0]
    for example in splits["train"] + splits["eval"]:
        messages = example["messages"]
        # the exact prompt of the decision step: the app's compact one, or the full one over a client's tools
        assert messages[0] == system or client_tools(example)
        assert messages[-1]["role"] == "assistant" and messages[-2]["role"] == "user"
        assert sum(len(m["content"]) for m in messages[1:]) < 1200  # short: trained on two CPU cores


def test_every_target_is_a_valid_decision(generated, app):
    splits, _ = generated
    _, registry_tools = app
    known = set(registry_tools)
    for example in splits["train"] + splits["eval"]:
        target = example["messages"][-1]["content"]
        if client_tools(example) is not None:
            decision = read_decision(target, {t["name"] for t in client_tools(example)})
            assert not decision.error and not (decision.calls_tool and decision.tool in known), target
            continue
        decision = read_decision(target, known)
        assert not decision.error, (target, decision.error)
        if not decision.calls_tool:
            assert json.loads(target) == {"tool": NO_TOOL}
            continue
        call = validate_call(decision.tool, decision.arguments, registry_tools)
        assert call.name == decision.tool and not call.repaired, target
        if call.name == "calculator":
            evaluate(decision.arguments["expression"])  # raises when the calculator cannot read it
        elif call.name == "generate_images":
            prompt = decision.arguments["prompt"]
            attributes = DIGIT_ATTRIBUTES if guess_dataset(prompt) == "digits" else SHAPE_ATTRIBUTES
            parse_prompt(prompt, attributes)  # raises when the image models cannot draw it
            assert len(prompt) <= 30
        elif call.name == "convert_units":
            registry_tools["convert_units"].invoke(decision.arguments)
        elif call.name == "switch_adapter":
            assert decision.arguments["name"] in ("concise", "zh-tutor", "base")


def test_arguments_are_grounded_in_the_message(generated):
    splits, _ = generated
    for example in splits["train"]:
        if has_history(example) or is_multistep(example):
            continue
        decision = json.loads(example["messages"][-1]["content"])
        message, args = request(example).lower(), decision.get("arguments", {})
        if decision["tool"] == "search_knowledge":
            assert args["query"].lower() in message
        elif decision["tool"] == "generate_images":
            digit = re.search(r"\d", args["prompt"])
            if digit:
                assert digit.group() in message or tool_data.EN_DIGIT[int(digit.group())] in message \
                    or tool_data.ZH_DIGIT[int(digit.group())] in message
        elif decision["tool"] == "convert_units":
            value = tool_data.num_text(args["value"])
            assert value.lstrip("-") in message
        elif decision["tool"] == "train_image_model" and "epochs" in args:
            assert str(args["epochs"]) in message


def test_mix_of_examples(generated):
    splits, _ = generated
    examples = splits["train"] + splits["eval"]
    targets = [json.loads(e["messages"][-1]["content"])["tool"] for e in examples]
    none = [e for e, t in zip(examples, targets, strict=True) if t == NO_TOOL]
    assert len(none) / len(examples) >= 0.45
    assert sum(tool_data.has_trigger(request(e)) for e in none) / len(none) > 0.5
    chinese = sum(is_chinese(request(e)) for e in examples) / len(examples)
    assert 0.3 <= chinese <= 0.5
    follow_ups = [e for e in examples if has_history(e)]
    assert len(follow_ups) / len(examples) >= 0.12
    assert any(t != NO_TOOL for e, t in zip(examples, targets, strict=True) if has_history(e))
    multistep = [e for e in examples if is_multistep(e)]
    assert 0.03 <= len(multistep) / len(examples) <= 0.08
    tools_called = {t for t in targets if t != NO_TOOL}
    assert {"generate_images", "calculator", "convert_units", "search_knowledge", "train_image_model",
            "switch_adapter"} <= tools_called
    for split in splits.values():  # each split has both languages and both kinds of answer
        assert any(is_chinese(request(e)) for e in split) and not all(is_chinese(request(e)) for e in split)


def test_client_tools_are_called_when_listed_and_declined_when_not(generated):
    """The same kind of request calls a client's tool when it is listed and calls nothing when it is not: the
    adapter must read the listing, not learn "weather needs no tool" (or "always call")."""
    splits, _ = generated
    client = [e for e in splits["train"] if client_tools(e) is not None]
    calls = [e for e in client if json.loads(e["messages"][-1]["content"])["tool"] != NO_TOOL]
    assert 0.1 <= len(client) / len(splits["train"]) <= 0.3 and 0.35 <= len(calls) / len(client) <= 0.65
    called_requests = {request(e) for e in calls}
    declined_unlisted = [e for e in client if e not in calls and request(e) in called_requests]
    assert len(declined_unlisted) >= 10
    for example in declined_unlisted:  # the tool that served this request elsewhere is not in this listing
        served_by = {json.loads(c["messages"][-1]["content"])["tool"] for c in calls if request(c) == request(example)}
        assert not served_by & {t["name"] for t in client_tools(example)}
    assert any(is_chinese(request(e)) for e in calls) and any(has_history(e) for e in calls)


def test_eval_phrasings_are_not_in_training(generated):
    splits, _ = generated
    train = {tool_data.normalize(request(e)) for e in splits["train"]}
    leaked = [request(e) for e in splits["eval"] if tool_data.normalize(request(e)) in train]
    assert not leaked


def test_generation_is_deterministic_and_matches_the_shipped_files(generated):
    _, out = generated
    for split in ("train", "eval"):
        shipped = tool_data.DATA / f"tools.{split}.jsonl"
        assert shipped.is_file(), "run `python -m assistant.training.tool_data` to write the training data"
        assert (out / f"tools.{split}.jsonl").read_bytes() == shipped.read_bytes(), (
            f"{shipped.name} is stale: rerun `python -m assistant.training.tool_data`"
        )


def test_build_adapters_reads_the_generated_files():
    from assistant.training.build_adapters import DATA, SHIPPED

    assert "tools" in SHIPPED and SHIPPED["tools"].get("behaviour_prompts") == 0
    # `tools` continues `tools-client`, so the client's adapter is built first, on the full data
    assert list(SHIPPED).index("tools-client") < list(SHIPPED).index("tools")
    assert SHIPPED["tools"]["init_adapter"] == "tools-client" and (DATA / SHIPPED["tools"]["data"]).is_file()
    assert SHIPPED["tools-client"]["data"] == "tools.train.jsonl"
    assert Path(DATA) == tool_data.DATA


def test_an_explicit_count_of_one_is_an_argument(generated):
    """ "just one image of …" asks for one: without `n` the tool's default of four would be drawn."""
    splits, _ = generated
    single = [e for e in splits["train"] if not has_history(e) and not is_multistep(e)
              and re.search(r"\b(just one|only one|a single|one single)\b|只要一张|就一个|只一个", request(e))]
    assert len(single) >= 10
    for example in single:
        decision = json.loads(example["messages"][-1]["content"])
        if decision["tool"] == "generate_images":
            assert decision["arguments"].get("n") == 1, request(example)


def test_document_questions_search_for_the_subject_not_the_time(generated):
    splits, _ = generated
    times = [*tool_data.DOC_WHEN_EN, *tool_data.DOC_WHEN_ZH]
    asked = [e for e in splits["train"] if re.search(r"I (added|uploaded)|上传的", request(e))
             and json.loads(e["messages"][-1]["content"])["tool"] == "search_knowledge"]
    assert len(asked) >= 12
    for example in asked:
        query = json.loads(example["messages"][-1]["content"])["arguments"]["query"]
        assert not any(t in query for t in times), (request(example), query)


def test_ordinal_follow_ups_pick_from_the_listed_order(generated):
    splits, _ = generated
    seen = 0
    for example in splits["train"]:
        match = re.search(r"\b(first|second)\b|(第一个|第二个)", request(example))
        decision = json.loads(example["messages"][-1]["content"])
        if not match or not has_history(example) or decision["tool"] != "switch_adapter":
            continue
        listing = example["messages"][-3]["content"]  # the assistant's reply before the request
        if "concise" not in listing or "zh-tutor" not in listing:
            continue
        listed = sorted(("concise", "zh-tutor"), key=listing.index)
        position = 0 if (match.group(1) == "first" or match.group(2) == "第一个") else 1
        assert decision["arguments"]["name"] == listed[position]
        seen += 1
    assert seen >= 5


def test_pictures_the_models_cannot_draw_are_answered_without_a_tool(generated):
    """ "draw me a horse": the image tool draws digits and four shapes; asking it for a horse is a false call."""
    splits, _ = generated
    subjects = [s.split()[-1] for s in tool_data.SLOTS["a_thing"]] + tool_data.SLOTS["zh_thing_n"] + [
        "portrait", "logo", "landscape", "头像"]
    beyond = [e for e in splits["train"] if not has_history(e) and not is_multistep(e)
              and any(s in request(e) for s in subjects)
              and re.search(r"draw|sketch|paint|picture|image|illustration|cartoon|design|画|图", request(e), re.I)]
    assert len(beyond) >= 20
    for example in beyond:
        assert json.loads(example["messages"][-1]["content"]) == {"tool": "none"}, request(example)


def test_volumes_convert_with_the_unit_converters_names(generated):
    splits, _ = generated
    calls = [json.loads(e["messages"][-1]["content"]) for e in splits["train"]]
    volume = [c["arguments"] for c in calls if c["tool"] == "convert_units"
              and {c["arguments"]["from_unit"], c["arguments"]["to_unit"]} & {"l", "ml", "gal", "cup"}]
    assert len(volume) >= 8
    for arguments in volume:  # same dimension on both sides: the converter refuses litres to kilograms
        assert {arguments["from_unit"], arguments["to_unit"]} <= {"l", "ml", "gal", "cup"}, arguments
