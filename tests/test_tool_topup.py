"""The top-up data for continued training of the tools adapter: valid calls that carry what the history says."""

import json
import re
from collections import Counter

import pytest

from assistant.training import tool_topup
from assistant.training.tool_data import DATA, app_tools


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    tools, registry = app_tools(tmp_path_factory.mktemp("topup"))
    return tools, registry, (lambda a: str(registry["convert_units"].invoke(a)))


def test_follow_ups_keep_the_count_and_the_first_answer(app):
    cases = tool_topup.generate(app[2], size=400, size_9=0)  # enough that each kind's rarer forms (零下, minus) occur
    assert {c.category for c in cases} == set(tool_topup.QUOTAS) and len(cases) == 400
    keep = [c for c in cases if c.category == "draw_keep_fu"]
    for case in keep:  # "same but stars" after "draw 4 …": still 4, the reply said so
        said = re.findall(r"\d+", case.history[-1]["content"])
        assert said and int(said[0]) == case.arguments["n"] >= 2, case
    for case in (c for c in cases if c.category == "calc_word_fu"):  # "split it among 12": 168/12, not re-derived
        first_answer = re.findall(r"\d+(?:\.\d+)?", case.history[-1]["content"])[0]
        assert case.arguments["expression"].startswith(first_answer), case
    negative = [c for c in cases if c.tool == "convert_units" and ("零下" in c.message or "minus" in c.message)]
    assert negative and all(c.arguments["value"] < 0 for c in negative)


def test_the_file_replays_the_full_training_data_one_to_one(app, tmp_path):
    tools, registry, convert = app
    report = tool_topup.write(tmp_path / "topup.jsonl", tools, registry, convert, size=40, replay=50)
    rows = (tmp_path / "topup.jsonl").read_text("utf-8").splitlines()
    full = set((DATA / "tools.train.jsonl").read_text("utf-8").splitlines())
    replayed = [json.loads(r) for r in rows if json.dumps(json.loads(r), ensure_ascii=False) in full]
    assert report["new"] == 40 and len(rows) == 90 and len(replayed) == 50
    assert all(json.loads(r)["messages"][-1]["role"] == "assistant" for r in rows)
    # the replay leans on no-tool follow-ups (rare in the full data: 9 %) and keeps the client tools, as REPLAY_MIX says
    strata = Counter(tool_topup.replay_stratum(row) for row in replayed)
    assert strata == {"client": 10, "none_after_history": 15, "none": 14, "tool": 11}


def test_each_new_kind_has_a_no_tool_twin_after_the_same_kind_of_history(app):
    cases = tool_topup.generate(app[2], size=tool_topup.TOP_UP_SIZE)
    twins = [c for c in cases if c.category.startswith("none_after")]
    assert len(twins) >= 30 and all(c.tool == "none" and c.history and c.arguments == {} for c in twins)
    after_words = {c.history[0]["content"] for c in twins if c.category == "none_after_word"}
    assert any(word in first for first in after_words for word in ("pens", "箱", "km", "元"))


def test_the_drawable_twin_asks_in_the_same_forms_and_draws_what_it_names(app):
    """Candidate 5's kind: "how about 4 blue squares" after a refusal or a drawing draws 4 blue squares, so the
    subject decides between a drawing and a refusal, not the form of the request."""
    cases = tool_topup.generate(app[2], size=tool_topup.TOP_UP_SIZE)
    drawable = [c for c in cases if c.category == "draw_same_form"]
    refused = [c for c in cases if c.category == "none_after_draw"]
    assert len(drawable) >= 20 and len(refused) >= 20
    for case in drawable:
        assert case.tool == "generate_images" and case.history and case.arguments["prompt"] in case.message
        count = re.findall(r"\d+", case.message)
        assert (count and int(count[0]) == case.arguments["n"]) or case.lang == "zh", case
    def form(message):  # noqa: ANN001, ANN202 - the words around the subject
        return re.sub(r"\d+.*|[一二三四五六七八九两][个匹颗只].*", "", message.lower()).strip(" ,，")
    assert {form(c.message) for c in drawable} & {form(c.message) for c in refused}


def test_coloured_digits_and_counts_in_words_reach_the_call(app):
    """Candidate 6's kinds: "half a dozen green 7s" -> prompt "green digit 7", n 6; the colour of a digit is kept
    in the prompt (the image tool names it back), and a count in words is the number it means."""
    cases = tool_topup.generate(app[2], size=500)  # enough that the idioms occur 5+ times beside candidate 8's kinds
    meaning = {**{w: k for k, ws in tool_topup.COUNT_WORDS_EN.items() for w in ws},
               **{w: k for k, ws in tool_topup.COUNT_WORDS_ZH.items() for w in ws}}
    coloured = [c for c in cases if c.category == "draw_colour_digit"]
    assert len(coloured) >= 30
    for case in coloured:
        prompt = case.arguments["prompt"]
        colour = next(c for c in ("red", "green", "blue", "yellow") if c in prompt or
                      tool_topup.COLOUR_ZH[c] in prompt)
        assert colour in case.message.lower() or tool_topup.COLOUR_ZH[colour] in case.message, case
        assert re.search(r"digit \d$|的数字\d$", prompt), case
    idioms = [c for c in cases if c.category in ("draw_colour_digit", "draw_count_words")
              and any(w in c.message.lower() for w in ("a pair of", "half a dozen", "a dozen", "半打", "一打", "一对"))]
    assert len(idioms) >= 5
    for case in idioms:
        said = next(w for w in sorted(meaning, key=len, reverse=True) if w in case.message.lower())
        assert case.arguments["n"] == meaning[said], case


def test_relative_counts_follow_the_last_drawing(app):
    """"double that number" after 3 drawings is 6; "half as many" after 4 is 2; "same but 5s" keeps colour and n."""
    cases = [c for c in tool_topup.generate(app[2], size=400) if c.category == "draw_relative_fu"]
    factors = {"double": 2, "twice": 2, "翻倍": 2, "加倍": 2, "两倍": 2, "half": 0.5, "减半": 0.5, "three times": 3,
               "三倍": 3}
    seen = set()
    for case in cases:
        before = int(re.findall(r"\d+", case.history[-1]["content"])[0])
        factor = next((f for w, f in factors.items() if w in case.message.lower()), 1)
        seen.add(factor)
        assert case.arguments["n"] == int(before * factor), case
    assert seen == {0.5, 1, 2, 3}
    none = [c for c in tool_topup.generate(app[2], size=400) if c.category == "none_count_words"]
    assert none and all(c.tool == "none" and c.arguments == {} for c in none)


def test_candidate_9_kinds_carry_the_named_model_the_discount_and_both_training_changes(app):
    """"… with the GAN" -> model gan; "打八五折" -> × 0.85; "on digits and double the epochs" after a run of 20 on
    shapes -> digits, 40; and candidate 8's cases come out unchanged before them."""
    from assistant.tools.calculator import evaluate

    before = tool_topup.generate(app[2], size=tool_topup.TOP_UP_SIZE, size_9=0)
    cases = tool_topup.generate(app[2], size=tool_topup.TOP_UP_SIZE, size_9=120)
    assert [c.key() for c in cases[:len(before)]] == [c.key() for c in before] and len(cases) == len(before) + 120
    named = {"gan": ("gan", "生成对抗网络"), "vae": ("vae", "变分自编码器"), "diffusion": ("diffusion", "扩散模型")}
    drawn = [c for c in cases if c.category in ("draw_named_model", "draw_named_model_fu")]
    assert len(drawn) >= 25 and {c.arguments["model"].split("-")[0] for c in drawn} == set(named)
    for case in drawn:
        family, _, dataset = case.arguments["model"].partition("-")
        assert any(word in case.message.lower() for word in named[family]), case
        if dataset:  # a checkpoint's own name fits the subject
            assert (dataset == "digits") == bool(re.search(r"digit|数字|\d", case.arguments["prompt"])), case
        if case.history:  # "same again but with the GAN": what was drawn, as many
            assert str(case.arguments["n"]) in case.history[0]["content"] or case.lang == "zh", case
    zhe = {"八五折": 0.85, "九五折": 0.95, "七五折": 0.75, "九折": 0.9, "八折": 0.8, "六折": 0.6, "85折": 0.85,
           "7折": 0.7}
    discounts = [c for c in cases if c.category == "calc_discount"]
    assert len(discounts) >= 10
    for case in discounts:
        if case.lang == "zh":
            price = float(re.search(r"(\d+)(?:元|块|，)", case.message)[1])
            multiplier = next(m for word, m in zhe.items() if word in case.message)
        else:
            off = int(re.search(r"(\d+)(?:%| percent)", case.message)[1])
            price = float(next(n for n in re.findall(r"\d+", case.message) if int(n) != off))
            multiplier = 1 - off / 100
        assert abs(evaluate(case.arguments["expression"]) - price * multiplier) < 1e-6, case
    trained = [c for c in cases if c.category == "train_two_changes_fu"]
    assert len(trained) >= 10
    for case in trained:
        first = re.search(r"Started training (\w+) on (\w+) for (\d+) epochs", case.history[-1]["content"])
        factor = 0.5 if any(w in case.message for w in ("half", "减半")) else 3 if "three" in case.message else 2
        assert case.arguments == {"model": first[1], "dataset": "shapes" if first[2] == "digits" else "digits",
                                  "epochs": int(int(first[3]) * factor)}, case
    assert all(c.tool == "none" for c in cases if c.category in ("none_named_model", "none_discount",
                                                                  "none_after_train"))


def test_candidate_10_kinds_leave_currencies_and_animals_to_text_and_pick_an_adapter_by_what_it_does(app):
    """A currency, even right after pounds -> kg, and "画一只红色的猫" need no tool; "the chinese one" after a list
    switches to zh-tutor; the mixed-up unit pairs convert what was said. Candidate 9's cases come out unchanged."""
    before = tool_topup.generate(app[2], size=tool_topup.TOP_UP_SIZE, size_9=120)
    cases = tool_topup.generate(app[2], size=tool_topup.TOP_UP_SIZE, size_9=120, size_10=60)
    assert [c.key() for c in cases[:len(before)]] == [c.key() for c in before] and len(cases) == len(before) + 60
    new = cases[len(before):]
    assert {c.category for c in new} == set(tool_topup.QUOTAS_10)
    currencies = ("USD", "EUR", "GBP", "RMB", "dollar", "euro", "pound", "yen", "franc",
                  "美元", "欧元", "英镑", "港币", "日元")
    for case in (c for c in new if c.category.startswith("none_currency")):
        assert case.tool == "none" and case.arguments == {} and any(w in case.message for w in currencies), case
        if case.category == "none_currency_fu":  # right after a unit conversion that the tool answered
            assert " = " in case.history[-1]["content"], case
    animals = ("cat", "dog", "horse", "bird", "flower", "car", "猫", "狗", "马", "鸟", "花", "车")
    assert all(c.tool == "none" and any(a in c.message for a in animals)
               for c in new if c.category == "none_undrawable_colour")
    units = {"gal": ("gal", "加仑"), "l": ("l", "L", "升"), "ml": ("ml", "mL", "millilit", "毫升"),
             "cup": ("cup", "杯"), "in": ("inch", "英寸"), "ft": ("f", "英尺"), "m": ("m", "米"), "oz": ("o", "盎司"),
             "g": ("g", "克"), "lb": ("lb", "pound", "磅"), "kg": ("k", "公斤", "千克")}
    for case in (c for c in new if c.category == "convert_pairs"):
        a = case.arguments
        assert (a["from_unit"], a["to_unit"]) in tool_topup.MIXED_PAIRS and f"{a['value']:g}" in case.message, case
        assert any(w in case.message for w in units[a["to_unit"]]), case
    picked = [c for c in new if c.category == "switch_describe_fu"]
    assert picked and all(c.history and "concise" in c.history[-1]["content"] for c in picked)
    for case in picked:
        chinese = any(w in case.message.lower() for w in ("chinese", "tutor", "中文"))
        assert case.arguments == {"name": "zh-tutor" if chinese else "concise"}, case


def test_candidate_11_names_the_family_first_and_replays_the_shipped_top_up(app, tmp_path):
    """"use the GAN to draw 4 yellow circles" / "用VAE画…" -> model gan / vae; the replay is the shipped file's."""
    tools, registry, convert = app
    report = tool_topup.write_named(tmp_path / "c11.jsonl", tools, registry, convert, size=40, replay=30)
    rows = [json.loads(r) for r in (tmp_path / "c11.jsonl").read_text("utf-8").splitlines()]
    shipped = {json.dumps(json.loads(r), ensure_ascii=False)
               for r in (DATA / "tools.topup.jsonl").read_text("utf-8").splitlines()}
    assert report["new"] == 40 and len(rows) == 70
    assert sum(json.dumps(r, ensure_ascii=False) in shipped for r in rows) == 30
    said = {"gan": ("gan", "生成对抗网络"), "vae": ("vae", "变分自编码器"), "diffusion": ("diffusion", "扩散模型")}
    first = [r for r in rows if json.dumps(r, ensure_ascii=False) not in shipped
             and json.loads(r["messages"][-1]["content"])["tool"] == "generate_images" and len(r["messages"]) == 3]
    assert len(first) >= 15
    for row in first:
        message, call = row["messages"][1]["content"].lower(), json.loads(row["messages"][-1]["content"])
        family = call["arguments"]["model"].split("-")[0]
        assert any(word in message for word in said[family]), row


def test_candidate_12_adds_questions_about_models_and_other_software_as_no_tool(app, tmp_path):
    """"VAE 生成的图为什么总是比较模糊？" and "PS 里怎么画一条虚线？" are questions: no tool, in candidate 12's file."""
    tools, registry, convert = app
    report = tool_topup.write_named(tmp_path / "c12.jsonl", tools, registry, convert, size=60, replay=0,
                                           quotas=tool_topup.QUOTAS_12)
    assert report["per_category"]["none_model_question"] >= 8 and report["per_category"]["none_draw_software"] >= 8
    rows = [json.loads(r) for r in (tmp_path / "c12.jsonl").read_text("utf-8").splitlines()]
    software = [r for r in rows if any(sw in r["messages"][1]["content"] for sw in tool_topup.SOFTWARE_EN +
                                       tool_topup.SOFTWARE_ZH) and re.search("draw|画", r["messages"][1]["content"])]
    assert len(software) >= 8
    assert all(json.loads(r["messages"][-1]["content"]) == {"tool": "none"} for r in software)


def test_the_shipped_top_up_is_what_the_generator_writes(app, tmp_path):
    """`tools` is trained on the committed file (build_adapters); regenerating it must give the same bytes."""
    tools, registry, convert = app
    tool_topup.write(tmp_path / "topup.jsonl", tools, registry, convert)
    shipped = DATA / "tools.topup.jsonl"
    assert (tmp_path / "topup.jsonl").read_bytes() == shipped.read_bytes(), (
        f"{shipped.name} is stale: rerun `python -m assistant.training.tool_topup`")


def test_the_second_stage_rehearses_kinds_the_top_up_never_had(app, tmp_path):
    """Candidate 14's file replays tools.train.jsonl too (the time, adapter lists), so stage 2 keeps those calls."""
    tools, registry, convert = app
    report = tool_topup.write_named(tmp_path / "named.jsonl", tools, registry, convert, size=20, replay=10,
                                    quotas=tool_topup.QUOTAS_12, replay_full=50)
    rows = [json.loads(r) for r in (tmp_path / "named.jsonl").read_text("utf-8").splitlines()]
    full = {json.dumps(json.loads(r), ensure_ascii=False)
            for r in (DATA / "tools.train.jsonl").read_text("utf-8").splitlines()}
    replayed = [r for r in rows if json.dumps(r, ensure_ascii=False) in full]
    assert report["replayed"] == 60 and len(rows) == 80 and len(replayed) >= 50
    assert not any(tool_topup.replay_stratum(r) == "client" for r in replayed)  # a client's tools keep tools-client
    called = Counter(json.loads(r["messages"][-1]["content"])["tool"] for r in replayed)
    assert called["none"] <= 35 and len(called) >= 4, called  # 40 % tool rows, of several tools


def test_the_shipped_second_stage_is_what_the_generator_writes(app, tmp_path):
    """`tools` stage 2 trains on the committed tools.named.jsonl; regenerating it must give the same bytes."""
    tools, registry, convert = app
    tool_topup.write_named(tmp_path / "named.jsonl", tools, registry, convert, tool_topup.NAMED_SIZE,
                           tool_topup.NAMED_REPLAY, quotas=tool_topup.QUOTAS_12,
                           replay_full=tool_topup.NAMED_REPLAY_FULL)
    shipped = tool_topup.NAMED_FILE
    assert (tmp_path / "named.jsonl").read_bytes() == shipped.read_bytes(), (
        f"{shipped.name} is stale: rerun `python -m assistant.training.tool_topup --named`")


def test_compositional_drawings_carry_every_group_in_one_call(app, tmp_path):
    """Candidate 15: "two large red stars and a small blue circle" → one call whose prompt the image tool reads as
    both groups; questions naming two shapes are not drawings."""
    from assistant.imaging.datasets import COLOURS, SHAPES, SIZES
    from assistant.imaging.prompting import guess_dataset, parse_composition

    tools, registry, convert = app
    report = tool_topup.write_composite(tmp_path / "c15.jsonl", tools, registry, convert, size=40, replay=5,
                                        replay_full=5)
    assert report["new"] == 40 and report["replayed"] == 10
    gen = tool_topup.TopUp(convert, 0)
    rng = __import__("random").Random(3)
    for _ in range(30):
        case = gen.gen_draw_composite(rng, "train", rng.choice(["en", "zh"]))
        prompt = case.arguments["prompt"]
        attributes = ({"digit": [str(d) for d in range(10)]} if guess_dataset(prompt) == "digits" else
                      {"shape": list(SHAPES), "colour": list(COLOURS), "size": list(SIZES)})
        composition = parse_composition(prompt, attributes)
        assert composition.compositional and not composition.unknown, prompt
        assert prompt.lower() in case.message.lower(), (prompt, case.message)
    for _ in range(10):
        assert gen.gen_none_composite(rng, "train", rng.choice(["en", "zh"])).tool == "none"

