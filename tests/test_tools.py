"""Tool registry, plugins, the tool-call parser, the calculator and tool execution limits."""

import json
import time

import pytest
from langchain_core.tools import StructuredTool
from pydantic import BaseModel

from assistant.tools.calculator import CalculatorError, evaluate, find_expression
from assistant.tools.parsing import ToolParseError, parse_tool_calls


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
    # amounts with currency signs, as people (and the model) write them
    assert evaluate("$42*37.5") == 1575 and evaluate("(12€ + 3€) * 2") == 30 and evaluate("30元*3") == 90


def test_unit_converter_knows_volumes():
    from plugins.unit_converter import convert_units

    assert convert_units.invoke({"value": 500, "from_unit": "ml", "to_unit": "gal"}) == "500 ml = 0.1321 gal"
    assert convert_units.invoke({"value": 2, "from_unit": "liters", "to_unit": "cups"}).endswith("8.454 cups")
    assert convert_units.invoke({"value": 46, "from_unit": "l", "to_unit": "ml"}) == "46 l = 46000 ml"
    with pytest.raises(ValueError, match="cannot convert"):
        convert_units.invoke({"value": 1, "from_unit": "l", "to_unit": "kg"})


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


def test_slash_command_arguments_are_parsed_and_train_bounds_are_enforced(services):
    from assistant.tools.commands import command_arguments
    from assistant.tools.service import parse_train_command

    assert command_arguments("generate_images", "three red circles") == {"prompt": "three red circles", "n": 3}
    assert command_arguments("calculator", "what is 17*23") == {"expression": "17*23"}
    assert parse_train_command("gan shapes 30") == {"model": "gan", "dataset": "shapes", "epochs": 30}
    with pytest.raises(ValueError, match="does not understand"):
        parse_train_command("gan digits please")
    # the number is never silently ignored: out of range is a clear error, and no job starts
    answer = services.tools.run_command("/train gan digits 99999999").text
    assert "epochs" in answer and "less than or equal to 500" in answer
    assert services.jobs.list() == []


def test_decision_schema_admits_exactly_the_registered_calls(services):
    import jsonschema

    from assistant.tools.decision import decision_schema, format_call, read_decision

    tools = services.tools.registry.describe()
    schema = decision_schema(tools)
    ok = [format_call("none"), format_call("calculator", {"expression": "2+2"}), format_call("list_adapters", {}),
          format_call("generate_images", {"prompt": "a 3", "n": 2, "seed": 7, "temperature": 0.8})]
    bad = ['{"tool": "rm_rf", "arguments": {}}', '{"tool": "calculator", "arguments": {"expr": "2"}}',
           '{"tool": "train_image_model", "arguments": {"model": "flow-matching"}}', '{"tool": "none", "x": 1}',
           # optional arguments (`int | None`) keep their type: the adapter once wrote these through the grammar
           '{"tool": "generate_images", "arguments": {"prompt": "a 3", "seed": {}}}',
           '{"tool": "generate_images", "arguments": {"prompt": "a 3", "temperature": {"low": 0.5}}}']
    for text in ok:
        jsonschema.validate(json.loads(text), schema)
    for text in bad:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(json.loads(text), schema)
    known = set(services.tools.registry.tools)
    assert read_decision(ok[1], known).tool == "calculator"
    assert read_decision("I think you should draw", known).error  # unusable output: no tool, reason kept
    assert read_decision('{"tool": "rm_rf"}', known).tool == "none"


def test_grammar_holds_the_torch_path_to_the_schema(services):
    """Even a random tiny model writes only JSON of the schema when decoding under it (lm-format-enforcer)."""
    from assistant.llm.base import GenerationParams

    engine = services.llm
    schema = {"type": "object", "properties": {"tool": {"enum": ["none", "calculator"]}}, "required": ["tool"],
              "additionalProperties": False}
    prompt, _ = engine.build_prompt([{"role": "user", "content": "2+2?"}], 40)
    free, _ = engine.generate(prompt, GenerationParams(temperature=0.0, max_new_tokens=40))
    constrained, _ = engine.generate(prompt, GenerationParams(temperature=0.0, max_new_tokens=40), json_schema=schema)
    with pytest.raises(json.JSONDecodeError):
        json.loads(free)  # the random model alone writes no JSON
    assert json.loads(constrained)["tool"] in ("none", "calculator")


def test_the_none_prior_moves_only_the_tool_name(services):
    """A bias after `{"tool": "` picks the biased name under the grammar, each way; the same bias with an `after`
    that never occurs changes nothing, so it acts at that one position only."""
    from assistant.llm.base import BiasAfter, GenerationParams
    from assistant.tools.decision import none_prior

    engine = services.llm
    schema = {"type": "object", "properties": {"tool": {"enum": ["none", "calculator"]}}, "required": ["tool"],
              "additionalProperties": False}
    params = GenerationParams(temperature=0.0, max_new_tokens=40)
    picks = {}
    for message in ("2+2?", "hello", "draw a cat", "what time is it?"):
        prompt, _ = engine.build_prompt([{"role": "user", "content": message}], 40)
        plain, _ = engine.generate(prompt, params, json_schema=schema)
        to_none, _ = engine.generate(prompt, params, json_schema=schema, bias=none_prior(30.0))
        to_calc, _ = engine.generate(prompt, params, json_schema=schema,
                                     bias=BiasAfter('{"tool":', "calculator", 30.0))
        elsewhere, _ = engine.generate(prompt, params, json_schema=schema, bias=BiasAfter("never", "none", 30.0))
        assert json.loads(to_none)["tool"] == "none" and json.loads(to_calc)["tool"] == "calculator"
        assert elsewhere == plain
        picks[message] = json.loads(plain)["tool"]
    assert none_prior(0.0) is None  # the default: the model's own choice, nothing added


def test_a_side_effect_call_waits_for_consent_and_runs_once(services):
    """A proposed call is stored with the reply; only its owner can confirm it, once; Cancel runs nothing."""
    from assistant.chat import ChatEngine
    from assistant.llm.base import InputError

    store = services.conversations
    conv = store.create("alice")
    pending = {"name": "switch_adapter", "arguments": {"name": "base"}}
    first = store.add_message(conv.id, "assistant", "I can switch…", meta={"pending_call": pending})
    second = store.add_message(conv.id, "assistant", "I can switch…", meta={"pending_call": pending})
    chat = ChatEngine(services)
    with pytest.raises(Exception, match="no message"):
        chat.confirm("mallory", first)
    done = chat.confirm("alice", first)
    assert done.tool_calls[0]["name"] == "switch_adapter" and "error" not in done.tool_calls[0]
    with pytest.raises(InputError, match="already done"):
        chat.confirm("alice", first)
    cancelled = chat.confirm("alice", second, accept=False)
    assert cancelled.tool_calls == [] and "Cancelled" in cancelled.answer
    assert services.tools.is_side_effect("train_image_model") and not services.tools.is_side_effect("calculator")


def test_the_grammar_admits_only_installed_adapters_and_image_models(services, settings):
    """The decision can only name what exists now: an adapter installed after start-up becomes admissible."""
    import jsonschema

    from assistant.tools.decision import decision_schema
    from assistant.tools.service import with_choices
    from tests.test_gate import make_adapter

    tools = services.tools.registry.describe()

    def admits(arguments: dict, tool: str = "switch_adapter") -> bool:
        schema = decision_schema(with_choices(tools, services.tools.live_choices()))
        try:
            jsonschema.validate({"tool": tool, "arguments": arguments}, schema)
        except jsonschema.ValidationError:
            return False
        return True

    assert admits({"name": "base"}) and not admits({"name": "concise"})
    make_adapter(services, settings, "concise")
    assert admits({"name": "concise"}) and not admits({"name": "../../etc"})
    assert admits({"prompt": "a 7", "model": "gan-digits"}, "generate_images")
    assert not admits({"prompt": "a 7", "model": "ssl-digits"}, "generate_images")  # not a generator
    # a family is what users say ("with the gan"); the tool resolves it to the prompt's dataset
    assert admits({"prompt": "a 7", "model": "gan"}, "generate_images")
    assert not admits({"prompt": "a 7", "model": "ssl"}, "generate_images")
    assert not admits({"prompt": "a 7", "model": "dall-e"}, "generate_images")


def test_draw_command_uses_the_image_model_the_user_names(services):
    """"/draw … with gan-shapes" draws with that model and does not name the model back as a word it missed."""
    from assistant.tools.commands import command_arguments

    assert command_arguments("generate_images", "用diffusion画三个红色圆") == {
        "prompt": "画三个红色圆", "n": 3, "model": "diffusion"}
    assert "model" not in command_arguments("generate_images", "a circle drawn with love")
    result = services.tools.run_command("/draw 2 small red circles with gan-shapes")
    record = result.calls[0]
    assert record.get("error") is None, record
    drawn = record["result"]
    assert drawn["model"] == "gan-shapes" and drawn["labels"] == [[0, 0, 0], [0, 0, 0]]
    assert drawn["unknown_words"] == [] and len(result.images) == 2
    by_kind = services.tools.run_command("/draw a star using the vae").calls[0]
    assert by_kind["result"]["model"] == "vae-shapes"


def test_a_drawing_call_without_n_draws_the_count_its_prompt_says(services):
    """The model may leave `n` out when its prompt says the count: "three …" draws 3, not the old fixed 4."""
    record = services.tools.call("generate_images", {"prompt": "three small red circles", "model": "gan-shapes"})
    assert record.get("error") is None, record
    assert len(record["images"]) == 3 and record["result"]["labels"] == [[0, 0, 0]] * 3
    assert len(services.tools.call("generate_images", {"prompt": "a red circle", "model": "gan-shapes"})["images"]) == 4
    too_many = services.tools.call("generate_images", {"prompt": "a red circle", "n": 0})
    assert "greater than or equal to 1" in too_many["error"]
