"""Tool registry, plugins, the tool-call parser, the calculator and tool execution limits."""

import time

import pytest
from langchain_core.tools import StructuredTool
from pydantic import BaseModel

from assistant.tools.calculator import CalculatorError, evaluate, find_expression
from assistant.tools.parsing import ToolParseError, parse_tool_calls
from assistant.tools.router import guess_arguments, route


class EchoArgs(BaseModel):
    text: str
    times: int = 1


def echo(text: str, times: int = 1) -> str:
    return text * times


TOOLS = {"echo": StructuredTool.from_function(echo, name="echo", description="echo", args_schema=EchoArgs)}


def test_parser_reads_native_fenced_and_bare_calls():
    native = '<tool_call>\n{"name": "echo", "arguments": {"text": "hi", "times": 2}}\n</tool_call>'
    fenced = 'Sure!\n```json\n{"name": "echo", "arguments": {"text": "hi"}}\n```'
    bare = 'I will call {"tool": "echo", "args": {"text": "hi"}} now'
    for text in (native, fenced, bare):
        [call] = parse_tool_calls(text, TOOLS)
        assert call.name == "echo" and call.arguments["text"] == "hi"
    assert parse_tool_calls(native, TOOLS)[0].arguments["times"] == 2


def test_parser_repairs_small_errors():
    [call] = parse_tool_calls("{'name': 'Echo', 'arguments': {'text': 'hi', 'times': '3',}}", TOOLS)
    assert call.name == "echo" and call.arguments == {"text": "hi", "times": 3}
    assert "single quotes" in call.repaired and any("Echo" in r for r in call.repaired)
    [call] = parse_tool_calls('{"name": "echo", "arguments": {"text": "unclosed"}', TOOLS)
    assert call.arguments["text"] == "unclosed"


def test_parser_rejects_hopeless_and_wrong_calls():
    assert parse_tool_calls("The answer is 42.", TOOLS) == []
    with pytest.raises(ToolParseError, match="unknown tool"):
        parse_tool_calls('{"name": "rm_rf", "arguments": {}}', TOOLS)
    with pytest.raises(ToolParseError, match="schema"):
        parse_tool_calls('{"name": "echo", "arguments": {"times": "many"}}', TOOLS)


def test_calculator_is_safe_and_exact():
    assert evaluate("17*23") == 391
    assert evaluate("2^10") == 1024
    assert evaluate("12 × 5") == 60
    assert find_expression("请计算 12 乘以 5 等于多少") == "12 * 5"
    for attack in ("__import__('os').system('id')", "().__class__", "9**9**9", "open('x')"):
        with pytest.raises(CalculatorError):
            evaluate(attack)
    with pytest.raises(CalculatorError, match="zero"):
        evaluate("1/0")


def test_registry_loads_builtins_and_a_plugin_folder_and_reports_broken_plugins(tmp_path, services):
    (tmp_path / "good.py").write_text(
        "from langchain_core.tools import tool\n\n@tool\ndef shout(text: str) -> str:\n"
        "    '''Shout the text.'''\n    return text.upper()\n"
    )
    (tmp_path / "broken.py").write_text("raise RuntimeError('plugin exploded')\n")
    (tmp_path / "empty.py").write_text("X = 1\n")
    services.settings.plugins_dir = tmp_path
    tools = services.tools
    assert {"calculator", "generate_images", "search_knowledge", "switch_adapter", "shout"} <= set(
        tools.registry.names()
    )
    problems = {p.source.split("/")[-1]: p.error for p in tools.registry.problems}
    assert "plugin exploded" in problems["broken.py"] and "no LangChain tools" in problems["empty.py"]
    assert tools.call("shout", {"text": "hey"})["result_text"] == "HEY"
    listing = tools.run_command("/tools").text
    assert "shout" in listing and "broken.py" in listing


def test_shipped_example_plugin(services):
    record = services.tools.call("convert_units", {"value": 10, "from_unit": "km", "to_unit": "miles"})
    assert "6.214" in record["result_text"]


def test_tool_errors_and_timeouts_become_records(services):
    registry = services.tools.registry

    def slow(text: str) -> str:
        time.sleep(5)
        return text

    def boom(text: str) -> str:
        raise RuntimeError("kaput")

    registry.add(StructuredTool.from_function(slow, name="slow", description="slow"), "test")
    registry.add(StructuredTool.from_function(boom, name="boom", description="boom"), "test")
    services.settings.tool_timeout_s = 0.5
    assert "did not finish" in services.tools.call("slow", {"text": "x"})["error"]
    assert "kaput" in services.tools.call("boom", {"text": "x"})["error"]
    assert "unknown tool" in services.tools.call("nope", {})["error"]
    assert "schema" in services.tools.call("calculator", {"expression": ["not", "a", "string"]})["error"]


def test_router_and_argument_guessing():
    tools = {"generate_images", "calculator", "search_knowledge", "switch_adapter", "train_image_model"}
    assert route("draw me three red circles", tools)[0].tool == "generate_images"
    assert guess_arguments("generate_images", "draw me three red circles", [])["n"] == 3
    assert route("画一个数字3", tools)[0].tool == "generate_images"
    assert route("train a GAN on digits to draw numbers", tools)[0].tool == "train_image_model"
    assert route("hi, how are you?", tools) == []
    assert guess_arguments("switch_adapter", "use the concise adapter", ["concise", "zh-tutor"]) == {"name": "concise"}


def test_router_reads_hide_and_fill_and_how_many_units():
    tools = {"inpaint_image", "convert_units", "generate_images", "calculator"}
    assert route("Hide 40% of some digit images and fill them in again", tools)[0].tool == "inpaint_image"
    assert guess_arguments("inpaint_image", "Hide 40% of some digit images and fill them in again", []) == {
        "model": "ssl-digits", "mask_ratio": 0.4}
    assert route("How many pounds is 5 kg? convert it", tools)[0].tool == "convert_units"
    assert guess_arguments("convert_units", "How many pounds is 5 kg? convert it", []) == {
        "value": 5.0, "from_unit": "kg", "to_unit": "pounds"}


def test_calculator_arguments_are_grounded_in_the_whole_expression():
    from assistant.tools.calculator import evaluate, find_expression
    from assistant.tools.service import ground_arguments

    assert find_expression("Compute the square root of 144") == "sqrt(144)"
    assert find_expression("144的平方根是多少") == "sqrt(144)"
    # the model shortened the expression: the full one from the message wins
    fixed, replaced = ground_arguments("calculator", {"expression": "12 + 8"}, "what's (12 + 8) * 3 - 5", [])
    assert evaluate(fixed["expression"]) == 55 and replaced == ["expression"]
    # the model passed the sentence along: the formula read from it wins
    fixed, _ = ground_arguments("calculator", {"expression": "Compute the square root of 144"},
                                "Compute the square root of 144", [])
    assert evaluate(fixed["expression"]) == 12
    # a good call is left alone
    assert ground_arguments("calculator", {"expression": "17*23"}, "what is 17*23?", [])[1] == []
