"""Training data for the shipped `tools` adapter: `python -m assistant.training.tool_data`.

Each example is the exact prompt of the tool-decision step as the app builds it when the `tools` adapter is loaded
(`decision_messages(..., compact=True)`, with the app's own tool list) and its answer (`format_call`):
`{"tool": "none"}` or a call with arguments grounded in the user's words. The data is bilingual (about 60% English,
40% Chinese), half of it needs no tool although most of those messages use a tool's trigger words harmlessly
("draw a conclusion", "train my dog", "10:30-11:45"), about 15% are follow-ups that need the earlier messages, and
about 5% continue after a tool's result (`steps`).

Everything is generated from templates and slot values with a fixed seed, so a rerun writes the same files. Every
phrasing pool keeps a share of its templates for the eval file only, so eval measures phrasings the adapter has not
seen. Calculator expressions are checked with the app's calculator, drawing prompts with the image prompt parser and
unit conversions are run through the converter plugin while generating.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from assistant.tools.calculator import evaluate
from assistant.tools.decision import NO_TOOL, decision_messages, format_call
from assistant.training.client_tool_data import ClientCases

DATA = Path(__file__).resolve().parent / "data"
SEED = 20250
TRAIN_SIZE = 2500
EVAL_SIZE = 48  # held-out loss before and after training: each pass costs minutes on two CPU cores
EVAL_PHRASING_SHARE = 0.15  # of every phrasing pool (4+ items), kept for the eval file only
ENGLISH_SHARE = 0.6

# Share of examples per category (normalised); the none share comes to about 50%.
QUOTAS: dict[str, float] = {
    # one message, one call
    "draw": 9.0, "calc": 7.0, "convert": 5.0, "search": 6.0, "train": 3.0, "switch": 2.5, "list": 1.5,
    "datetime": 2.0, "inpaint": 1.5,
    # follow-ups that need the history
    "draw_fu": 3.0, "calc_fu": 2.0, "switch_fu": 1.2, "search_fu": 1.3, "convert_fu": 1.0, "train_fu": 0.8,
    "fact_calc_fu": 0.8, "switch_ordinal": 0.8,
    "none_fu": 6.0,
    # unrelated earlier turns: the latest message decides
    "context_tool": 1.5, "context_none": 1.5,
    # after a tool result
    "multi_next": 2.2, "multi_done": 2.8,
    # no tool, one message
    "none_trigger": 26.0, "none_topic": 4.5, "none_general": 3.2, "none_coding": 3.0, "none_writing": 1.5,
    "none_translate": 1.2, "none_greeting": 1.0, "none_undrawable": 2.0, "none_numbers": 1.5,
    "none_no_tool_facts": 2.5,
    # a /v1 client's own tools (client_tool_data.py): call when listed and wanted, decline otherwise
    "client_call": 11.0, "client_near": 5.0, "client_unlisted": 3.5, "client_general": 2.5, "client_followup": 2.0,
}

# Words that could tempt a tool call; most no-tool messages contain one (used by the stats and the tests).
TRIGGER_WORDS_EN = (
    "draw", "drew", "paint", "sketch", "picture", "image", "generate", "train", "convert", "conversion", "switch",
    "concise", "adapter", "search", "look up", "find", "calculat", "compute", "math", "time", "date", "today",
    "epoch", "model", "gan", "vae", "lora", "rlhf", "dpo", "retrieval", "notes", "document", "km", "mile", "kg",
    "pound", "celsius", "fahrenheit", "inpaint", "digit", "circle", "square", "triangle", "star", "number",
)
TRIGGER_WORDS_ZH = (
    "画", "生成", "图", "训练", "转换", "转成", "换算", "切换", "简洁", "适配器", "搜索", "查", "找", "计算", "算",
    "几点", "时间", "日期", "今天", "笔记", "文档", "模型", "数字", "圆", "三角", "星", "公里", "摄氏", "华氏",
)
_NUMBERISH = re.compile(r"\d\s*[-+*/:×÷x^.]\s*\d|\d{3,}")


def has_trigger(text: str) -> bool:
    """Whether a message holds a tool's trigger word or arithmetic-looking numbers (times, ranges, versions)."""
    low = text.lower()
    return (any(w in low for w in TRIGGER_WORDS_EN) or any(w in text for w in TRIGGER_WORDS_ZH)
            or bool(_NUMBERISH.search(text)))


@dataclass
class Case:
    message: str
    tool: str = NO_TOOL
    arguments: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    steps: list[tuple[dict, str]] = field(default_factory=list)
    lang: str = "en"
    kind: str = "single"  # single | followup | context | multistep | client
    category: str = ""
    client_tools: list[dict] | None = None  # a /v1 client's tools instead of the app's (full prompt, not compact)

    def key(self) -> str:
        names = [t["name"] for t in self.client_tools or []]
        return json.dumps([self.history, self.message, [[c, r] for c, r in self.steps], names], ensure_ascii=False)

    def example(self, tools: list[dict]) -> dict:
        if self.client_tools is not None:  # the prompt `ApiServer._decide` builds for a client's tools
            messages = decision_messages(self.client_tools, self.history, self.message)
        else:
            messages = decision_messages(tools, self.history, self.message, self.steps or None, compact=True)
        return {"messages": [*messages, {"role": "assistant", "content": format_call(self.tool, self.arguments)}]}


def _turn(user: str, assistant: str) -> list[dict]:
    return [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]


# --- slot values -------------------------------------------------------------------------------------------------
EN_COUNT = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine",
            10: "ten", 11: "eleven", 12: "twelve"}
EN_DIGIT = {0: "zero", **{k: v for k, v in EN_COUNT.items() if k <= 9}}
EN_DIGIT_PLURAL = {0: "zeros", 1: "ones", 2: "twos", 3: "threes", 4: "fours", 5: "fives", 6: "sixes", 7: "sevens",
                   8: "eights", 9: "nines"}
ZH_COUNT = {1: "一", 2: "两", 3: "三", 4: "四", 5: "五", 6: "六", 7: "七", 8: "八", 9: "九", 10: "十", 11: "十一",
            12: "十二"}
ZH_DIGIT = {0: "零", 1: "一", 2: "二", 3: "三", 4: "四", 5: "五", 6: "六", 7: "七", 8: "八", 9: "九"}

SHAPES = ["circle", "square", "triangle", "star"]
COLOURS = ["red", "green", "blue", "yellow"]
SIZES = ["small", "large"]
SIZE_EN = {"small": ["small", "little", "tiny"], "large": ["large", "big", "huge"]}
SHAPE_ZH = {"circle": ["圆", "圆形", "圆圈"], "square": ["正方形", "方块"], "triangle": ["三角形"],
            "star": ["星星", "五角星"]}
COLOUR_ZH = {"red": "红色", "green": "绿色", "blue": "蓝色", "yellow": "黄色"}
SIZE_ZH = {"small": "小", "large": "大"}
ADAPTERS = ["concise", "zh-tutor"]

# --- English and Chinese noise -------------------------------------------------------------------------------------
EN_TYPOS = {
    "please": ["pls", "plz", "pleas"], "draw": ["drw", "darw"], "calculate": ["calcualte", "calculte"],
    "convert": ["conver", "covnert"], "search": ["serch", "seach"], "what's": ["whats", "wats"], "you": ["u"],
    "the": ["teh"], "picture": ["pic", "pitcure"], "adapter": ["adaptor", "adpater"], "train": ["trian"],
    "switch": ["swich"], "how": ["hwo"], "could": ["coud"], "generate": ["genrate"], "thanks": ["thx", "thnaks"],
    "my": ["mi"], "about": ["abt"], "with": ["wiht"], "for": ["fro"], "what": ["waht"], "time": ["tiem"],
}
EN_SUFFIX = [" please", " pls", ", thanks", " thx", ", thank you!", " :)", "!", " asap", " real quick"]
ZH_PREFIX = ["嗯，", "那个，", "你好，", "hi，", "请问，"]


def _split_slots(template: str) -> list[str]:
    return re.split(r"(\{\w+\})", template)


def en_noise(rng: random.Random, template: str) -> str:
    """Typos, casing, punctuation and politeness on the template's own words (slot values stay exact)."""
    parts = _split_slots(template)
    if rng.random() < 0.15:
        spots = [(i, m) for i, p in enumerate(parts) if not p.startswith("{")
                 for m in re.finditer(r"[A-Za-z']+", p) if m.group(0).lower() in EN_TYPOS]
        if spots:
            i, m = rng.choice(spots)
            typo = rng.choice(EN_TYPOS[m.group(0).lower()])
            parts[i] = parts[i][: m.start()] + typo + parts[i][m.end():]
    r = rng.random()
    if r < 0.15:
        parts = [p if p.startswith("{") else p.lower() for p in parts]
    elif r < 0.45 and parts[0] and not parts[0].startswith("{"):
        parts[0] = parts[0][0].upper() + parts[0][1:]
    text = "".join(parts)
    if rng.random() < 0.2:
        text = text.rstrip("?.!")
    if rng.random() < 0.12 and not text.endswith(("?", ":", "'", "!")):
        text += rng.choice(EN_SUFFIX)
    return text


def zh_noise(rng: random.Random, template: str) -> str:
    text = template
    r = rng.random()
    if r < 0.15:
        text = text.replace("？", "?")
    elif r < 0.3:
        text = text.rstrip("？。！")
    if rng.random() < 0.08 and not text.startswith(("{", "请问", "你好")):
        text = rng.choice(ZH_PREFIX) + text
    return text


def fill(template: str, **slots: object) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: str(slots[m.group(1)]), template)


def article(word: str) -> str:
    """'a 7', 'an 8', 'an eight'."""
    return "an" if word.startswith(("8", "eight", "11", "18")) else "a"


def append_before_punctuation(message: str, extra: str) -> str:
    """'draw a 7?' + ' with seed 3' -> 'draw a 7 with seed 3?'"""
    base = message.rstrip("?.!？。！")
    return base + extra + message[len(base):]


def num_text(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


# --- phrasing pools: tools --------------------------------------------------------------------------------------------
DRAW_EN = [
    "draw {s}", "Draw {s}.", "draw me {s}", "Draw me {s} please", "can you draw {s}?", "Could you draw {s} for me?",
    "please draw {s}", "pls draw {s}", "generate {s}", "Generate {s} with the image model.", "show me {s}",
    "I'd like to see {s}", "make me {s}", "sketch {s}", "paint {s}", "create {s}", "give me {s}", "can I get {s}?",
    "let's see {s}", "Would you mind drawing {s}?", "Kindly generate {s}.", "draw {s}, thanks", "hey, draw {s}",
    "yo draw {s}", "I need {s} for my slides", "render {s}", "produce {s} please", "use the image model to draw {s}",
    "could you generate {s}?", "draw {s} for me!", "go ahead and draw {s}", "Please create {s}.",
    "mind sketching {s}?", "whip up {s}", "can you make {s}?", "I want to see {s}, draw it",
    "Generate images: {s}", "draw {s} now", "time for some art: draw {s}",
]
DRAW_ZH = [
    "画{s}", "帮我画{s}", "请画{s}", "给我画{s}", "能画{s}吗？", "可以帮我画{s}吗？", "生成{s}", "帮我生成{s}",
    "我想看{s}", "来{s}", "麻烦画{s}", "用图像模型画{s}", "画{s}吧", "我想要{s}", "能不能给我画{s}？", "画{s}，谢谢",
    "帮忙画{s}", "请生成{s}", "给我来{s}", "麻烦帮我生成{s}，谢谢！", "你能画{s}吗", "画{s}看看", "请帮我画出{s}",
    "想看看{s}，画一下", "现在画{s}",
]
CALC_EN = [
    "what is {e}?", "What's {e}", "whats {e}", "calculate {e}", "compute {e}", "{e} = ?", "{e}=?", "{e}",
    "how much is {e}?", "work out {e} for me", "can you calculate {e}?", "solve {e}", "quick: {e}",
    "what does {e} come to?", "evaluate {e}", "hey what's {e}", "what do you get for {e}?", "{e}, exactly please",
    "Please calculate {e}.", "I need the result of {e}", "tell me {e}", "what's the answer to {e}?",
    "could you compute {e} for me?", "do the math: {e}", "{e}?", "figure out {e}", "calc {e}",
]
CALC_ZH = [
    "{e}等于多少？", "{e}是多少", "算一下{e}", "帮我算{e}", "计算{e}", "{e}=?", "请问{e}等于几？", "{e}得多少",
    "帮忙算一下{e}，谢谢", "{e}的结果是多少？", "{e}等于？", "{e}", "麻烦算算{e}", "{e}，多少？", "请计算{e}。",
    "帮我算一下{e}等于多少", "算算{e}", "{e}的值是多少",
]
CALC_WORD_EN = [
    ("I bought {a} notebooks at {p} each. What's the total?", "{a}*{p}"),
    ("split a bill of {b} between {k} people, how much each?", "{b}/{k}"),
    ("what's the average of {x}, {y} and {z}?", "({x}+{y}+{z})/3"),
    ("if I save {s} a month for {m} months, how much do I have?", "{s}*{m}"),
    ("area of a rectangle {w} by {h}?", "{w}*{h}"),
    ("what's the area of a circle with radius {r}?", "pi*{r}**2"),
    ("I had {b} and spent {s}. How much is left?", "{b}-{s}"),
    ("{k} boxes with {a} apples each, how many apples in total?", "{k}*{a}"),
    ("a car travels {b} km in {k} hours, what's its average speed?", "{b}/{k}"),
    ("how many seconds are in {k} hours?", "{k}*3600"),
    ("my rent is {b} and my share is a third, how much do I pay?", "{b}/3"),
    ("Add up {x}, {y} and {z} for me", "{x}+{y}+{z}"),
    ("if I invest {b} at {p}% a year, compounded yearly, what do I have after {k} years?", "{b}*(1+{p}/100)**{k}"),
    ("{b} growing {p}% per year for {k} years, what does it become?", "{b}*(1+{p}/100)**{k}"),
    ("the price was {b} and went up {p}%, what is it now?", "{b}*(1+{p}/100)"),
    ("{b} minus a {p}% discount, what do I pay?", "{b}*(1-{p}/100)"),
    ("a case holds {a} cans at {p} each; what do {k} cases cost?", "{a}*{p}*{k}"),
    ("{k} tickets at {p} each plus a {a} booking fee, total?", "{k}*{p}+{a}"),
]
CALC_WORD_ZH = [
    ("{a}个本子每个{p}元，一共多少钱？", "{a}*{p}"),
    ("{b}元{k}个人平分，每人多少？", "{b}/{k}"),
    ("{x}、{y}、{z}的平均数是多少", "({x}+{y}+{z})/3"),
    ("每月存{s}元，存{m}个月一共多少？", "{s}*{m}"),
    ("长{w}宽{h}的长方形面积是多少？", "{w}*{h}"),
    ("半径{r}的圆面积是多少", "pi*{r}**2"),
    ("我有{b}元，花了{s}元，还剩多少？", "{b}-{s}"),
    ("{k}箱苹果，每箱{a}个，一共多少个？", "{k}*{a}"),
    ("把{x}、{y}和{z}加起来", "{x}+{y}+{z}"),
    ("本金{b}元，年利率{p}%，按年复利，{k}年后连本带利多少？", "{b}*(1+{p}/100)**{k}"),
    ("{b}每年增长{p}%，{k}年后是多少？", "{b}*(1+{p}/100)**{k}"),
    ("原价{b}元，涨了{p}%，现在多少钱？", "{b}*(1+{p}/100)"),
    ("{b}元的东西打掉{p}%，实付多少？", "{b}*(1-{p}/100)"),
    ("每盒{a}个，单价{p}元，{k}盒一共多少钱？", "{a}*{p}*{k}"),
]
CONVERT_EN = [
    "convert {v} {u1} to {u2}", "Convert {v} {u1} into {u2}.", "{v} {u1} in {u2}?", "how many {u2} is {v} {u1}?",
    "how many {u2} are in {v} {u1}?", "what's {v} {u1} in {u2}", "{v} {u1} to {u2}", "{v} {u1} = ? {u2}",
    "can you convert {v} {u1} to {u2} for me?", "I need {v} {u1} in {u2}", "please change {v} {u1} into {u2}",
    "express {v} {u1} in {u2}", "what is {v} {u1} in {u2}?", "turn {v} {u1} into {u2}",
    "{v} {u1} is how many {u2}?", "quick conversion: {v} {u1} to {u2}", "convert {v} {u1} -> {u2}",
    "What does {v} {u1} come to in {u2}?", "how much is {v} {u1} in {u2}?", "{v} {u1} equals how many {u2}",
]
CONVERT_EN_CONTEXT = [
    ("My suitcase weighs {v} {u1}, how many {u2} is that?", "kg", "lb", (8, 32)),
    ("I ran {v} {u1} today. How far is that in {u2}?", "km", "mi", (3, 42)),
    ("the recipe says {v} {u1} of flour, how many {u2}?", "oz", "g", (2, 40)),
    ("I'm {v} {u1} tall, what's that in {u2}?", "cm", "ft", (150, 200)),
    ("It's {v}{u1} outside, what's that in {u2}?", "F", "C", (-5, 105)),
    ("the oven is at {v}{u1}. What is that in {u2}?", "C", "F", (150, 250)),
    ("the box is {v} {u1} wide, how many {u2} is that?", "in", "cm", (4, 40)),
    ("my baby weighs {v} {u1}, what's that in {u2}?", "lb", "kg", (5, 25)),
    ("the pool is {v} {u1} long — in {u2} please", "m", "yd", (25, 50)),
    ("the hike is {v} {u1}, how many {u2} is that?", "mi", "km", (3, 30)),
]
CONVERT_ZH = [
    "把{v}{u1}换算成{u2}", "{v}{u1}等于多少{u2}？", "{v}{u1}是多少{u2}", "{v}{u1}合多少{u2}",
    "帮我把{v}{u1}转换成{u2}", "{v}{u1}换成{u2}是多少", "请把{v}{u1}转成{u2}", "{v}{u1}大概多少{u2}？",
    "{v}{u1}折合多少{u2}", "换算一下：{v}{u1}等于几{u2}", "{v}{u1}转{u2}", "请问{v}{u1}是几{u2}？",
]
CONVERT_ZH_CONTEXT = [
    ("我身高{v}{u1}，是多少{u2}？", "cm", "ft", (150, 200)),
    ("外面{v}{u1}，相当于多少{u2}？", "F", "C", (-5, 105)),
    ("行李{v}{u1}，合多少{u2}？", "kg", "lb", (8, 32)),
    ("今天跑了{v}{u1}，等于多少{u2}？", "km", "mi", (3, 42)),
    ("食谱上写{v}{u1}，是多少{u2}？", "oz", "g", (2, 40)),
    ("烤箱温度{v}{u1}，换成{u2}是多少？", "C", "F", (150, 250)),
]
SEARCH_EN = [
    "search my notes for {t}", "search my notes about {t}", "look up {t} in the knowledge base",
    "search the knowledge base for {t}", "find {t} in my documents", "what do my notes say about {t}?",
    "check the docs on {t}", "look up {t} in the docs", "Can you search the notes for {t}?",
    "find passages about {t}", "search for {t} in my files", "pull up what the documentation says about {t}",
    "do my uploaded documents mention {t}?", "look through my docs for anything on {t}",
    "search the assistant's notes on {t}", "according to my notes, what about {t}?",
    "find the section on {t} in the notes", "Search the knowledge base: {t}",
    "what does the documentation say about {t}?",
    "dig up my notes on {t}", "anything in my documents about {t}?", "look {t} up in my notes please",
    "I uploaded some docs — search them for {t}", "find sources on {t} in the knowledge base",
    "could you search my documents for {t}?",
]
SEARCH_ZH = [
    "搜索一下我的笔记里关于{t}的内容", "在知识库里查一下{t}", "查查文档里关于{t}的说明", "我的文档里有提到{t}吗？",
    "帮我找一下{t}相关的资料", "在我上传的文件里找{t}", "笔记里是怎么说{t}的？", "查一下知识库：{t}",
    "根据我的笔记，{t}是怎么回事？", "搜一下知识库里的{t}", "帮我在文档里搜索{t}", "知识库里有没有{t}的内容？",
    "从我的资料里找找{t}", "请在笔记中检索{t}", "翻一下我的笔记，看看{t}",
]
SEARCH_TOPICS_EN = [
    "VAE", "VAEs", "the VAE loss", "the reparameterisation trick", "GANs", "GAN training", "mode collapse", "LoRA",
    "LoRA rank", "QLoRA", "RLHF", "KTO and DPO", "reward models", "retrieval", "hybrid retrieval", "adapters",
    "training an adapter", "quantization", "chain-of-thought mode", "self-consistency", "knowledge base indexing",
    "uploading documents", "plugins", "the CLI", "masked image modelling", "inpainting", "evaluation metrics",
    "troubleshooting slow replies", "getting started", "feedback and votes", "the termination clause",
    "the project budget", "the Q3 results", "my meeting notes from Monday", "the onboarding checklist",
    "the deposit in my lease", "the deadline for the grant", "the refund policy", "the API keys section",
    "the holiday schedule",
]
SEARCH_TOPICS_ZH = [
    "VAE", "变分自编码器", "GAN", "生成对抗网络", "模式崩溃", "LoRA", "LoRA的秩", "RLHF", "人类反馈强化学习",
    "DPO", "检索", "适配器", "量化", "思维链", "知识库", "上传文档", "插件", "命令行", "掩码图像建模", "评估指标",
    "违约条款", "项目预算", "会议纪要", "押金", "报销流程", "入职清单", "退款政策", "年假安排",
]
# Questions about this app itself: its documentation is in the knowledge base, so they are searches.
APP_HOWTO_EN = ["how do I {task} in this app?", "where in this assistant can I {task}?",
                "how can I {task} here? check the docs", "search the help for how to {task}",
                "can this assistant help me {task}? any guide for that?", "is there a guide for how to {task} here?",
                "where's the documentation on how to {task}?", "how does this app let me {task}?",
                "what are the steps to {task} with you?", "is it possible to {task} in this workbench? how?",
                "what's the right way to {task} in here?"]
APP_TASKS_EN = ["upload a document", "train an adapter", "export a conversation", "add a plugin",
                "rebuild the knowledge index", "give feedback on a reply", "change the system prompt",
                "use the CLI", "run the app on a GPU", "delete an uploaded file", "make images",
                "train my own image model", "switch adapters", "compare two adapters", "use the API",
                "install the bigger model", "turn on step-by-step reasoning", "promote an adapter"]
APP_HOWTO_ZH = ["这个应用里怎么{task}？", "在这个助手里如何{task}？查一下文档", "帮我查查怎么{task}",
                "这个助手怎么用来{task}？有说明吗", "有没有{task}的教程？", "{task}的步骤是什么？看看文档",
                "在这里能{task}吗？怎么操作？"]
APP_TASKS_ZH = ["上传文档", "训练适配器", "导出对话", "添加插件", "重建知识库索引", "修改系统提示词", "删除上传的文件",
                "生成图片", "训练自己的图像模型", "切换适配器", "用API", "安装更大的模型", "给回答投票"]
# Questions about the user's own documents: the query is what is asked about, never the time or the file's kind.
DOC_KINDS_EN = ["paper", "lease", "contract", "meeting notes", "report", "syllabus", "manual", "handbook", "slides",
                "notes", "PDF", "spreadsheet", "policy document", "proposal"]
DOC_WHEN_EN = ["yesterday", "this morning", "last week", "earlier", "today", "on Monday", "a while ago"]
DOC_QUESTIONS_EN = [
    ("what data set do the authors train on?", "data set"), ("which benchmark do they report?", "benchmark"),
    ("what learning rate did they train with?", "learning rate"),
    ("what was the sample size?", "sample size"), ("who is the landlord?", "landlord"),
    ("when is the deadline?", "deadline"), ("how much is the travel budget?", "travel budget"),
    ("how many vacation days do I get?", "vacation days"), ("what does it say about pets?", "pets"),
    ("what's the notice period?", "notice period"), ("who is responsible for repairs?", "repairs"),
    ("what are the action items?", "action items"), ("what was decided about the launch date?", "launch date"),
    ("what's the grading policy?", "grading"), ("how do I reset the device?", "reset"),
    ("what is the main result?", "main result"), ("what's the late fee?", "late fee"),
    ("who owns the intellectual property?", "intellectual property"), ("what's the refund policy?", "refund"),
    ("how much was revenue in Q3?", "revenue"), ("what does it say about remote work?", "remote work"),
]
DOC_ASK_EN = ["in the {doc} I added {when}, {q}", "according to the {doc} I uploaded, {q}",
              "quick question about my {doc}: {q}", "I uploaded a {doc} {when} — {q}", "from my {doc}, {q}",
              "check my {doc}: {q}", "in my uploaded {doc}, {q}"]
DOC_ABOUT_EN = ["what does my {doc} say about {t}?", "does the {doc} I uploaded mention {t}?",
                "what do my documents say about {t}?", "find what my {doc} says about {t}",
                "look at the {doc} I uploaded {when} and tell me about {t}"]
DOC_SUMMARY_EN = ["sum up the {doc} I added {when}", "give me a summary of my {doc}",
                  "what are the key points of the {doc} I uploaded?", "tl;dr of the {doc} I uploaded {when} please"]
DOC_KINDS_ZH = ["论文", "租房合同", "合同", "会议纪要", "报告", "课程大纲", "说明书", "员工手册", "笔记", "方案"]
DOC_WHEN_ZH = ["昨天", "今天早上", "上周", "刚才", "前几天"]
DOC_QUESTIONS_ZH = [
    ("作者用了哪个数据集？", "数据集"), ("截止日期是什么时候？", "截止日期"), ("差旅预算是多少？", "差旅预算"),
    ("关于宠物是怎么规定的？", "宠物"), ("违约金是多少？", "违约金"), ("有哪些待办事项？", "待办事项"),
    ("年假有几天？", "年假"), ("押金是多少？", "押金"), ("主要结论是什么？", "结论"), ("退款政策是什么？", "退款"),
    ("第三季度收入是多少？", "收入"), ("考勤是怎么规定的？", "考勤"),
]
DOC_ASK_ZH = ["我{when}上传的{doc}里，{q}", "根据我上传的{doc}，{q}", "看一下我的{doc}：{q}", "在我的{doc}里，{q}"]
DOC_ABOUT_ZH = ["按照我的笔记，{t}的主要步骤有哪些？", "我的{doc}里关于{t}是怎么写的？", "我上传的{doc}有没有提到{t}？",
                "我的资料里{t}是怎么说的？"]
DOC_SUMMARY_ZH = ["总结一下我{when}上传的{doc}", "帮我概括一下{doc}的要点", "我上传的{doc}讲了什么？总结一下"]
DOC_TOPIC_FU_EN = ["and what does it say about {t}?", "what about {t}?", "and {t}?", "does it say anything about {t}?",
                   "ok, and the part about {t}?"]
DOC_TOPIC_FU_ZH = ["那关于{t}呢？", "它对{t}是怎么规定的？", "{t}呢？", "里面有没有提到{t}？"]
TRAIN_EN = [
    "train a {m}{on}{for}", "start training a {m}{on}{for}", "kick off {m} training{on}{for}",
    "please train the {m}{on}{for}",
    "can you train a new {m}{on}{for}?", "retrain the {m}{on}{for}", "launch a {m} training job{on}{for}",
    "I want to train a {m}{on}{for}", "begin training the {m}{on}{for}", "Train a new {m}{on}{for}, please.",
    "go ahead and train a {m}{on}{for}", "could you start a {m} run{on}{for}?", "fit a {m}{on}{for}",
    "start a background job to train a {m}{on}{for}",
]
TRAIN_ZH = [
    "训练一个{m}{on}{for}", "开始训练{m}{on}{for}", "帮我训练个{m}{on}{for}", "请训练{m}{on}{for}",
    "重新训练一下{m}{on}{for}", "启动{m}训练{on}{for}", "我想训练一个{m}{on}{for}", "后台训练一个{m}{on}{for}",
    "来训练一个{m}{on}{for}", "麻烦开始训练{m}{on}{for}",
]
TRAIN_MODEL_EN = {"vae": ["VAE", "vae", "variational autoencoder"], "gan": ["GAN", "gan"],
                  "ssl": ["masked-SSL model", "masked SSL model", "self-supervised masked model"],
                  "diffusion": ["diffusion model", "DDPM", "diffusion model (DDPM)"]}
TRAIN_MODEL_ZH = {"vae": ["VAE", "变分自编码器"], "gan": ["GAN", "生成对抗网络"], "ssl": ["掩码自监督模型", "SSL模型"],
                  "diffusion": ["扩散模型", "DDPM扩散模型"]}
TRAIN_ON_EN = {"digits": [" on digits", " on the digits dataset", " on handwritten digits", " on the digits"],
               "shapes": [" on shapes", " on the shapes dataset", " on the shapes data"]}
TRAIN_ON_ZH = {"digits": ["，用数字数据集", "，数据用digits", "（手写数字）"],
               "shapes": ["，用形状数据集", "，数据用shapes", "（形状数据）"]}
TRAIN_FOR_EN = [" for {e} epochs", ", {e} epochs", " ({e} epochs)", " with {e} epochs"]
TRAIN_FOR_ZH = ["，训练{e}轮", "，跑{e}个epoch", "，{e}轮", "，epochs设为{e}"]
SWITCH_EN = [
    "switch to {a}", "use {a}", "change to {a}", "activate {a}", "turn on {a}", "load {a} for this chat",
    "can you switch this conversation to {a}?", "please switch the adapter to {a}", "set the adapter to {a}",
    "switch this chat to {a}", "Switch adapters: {a}", "I'd like to use {a} from now on", "enable {a}",
    "go with {a} for this conversation", "swap to {a}",
]
SWITCH_NAMES_EN = {"concise": ["concise", "the concise adapter", "the concise LoRA", "the short-answers adapter",
                               "the brief-replies adapter"],
                   "zh-tutor": ["zh-tutor", "the zh-tutor adapter", "the Chinese tutor adapter"]}
SWITCH_BASE_EN = [
    "go back to the base model", "turn off the adapter", "disable the adapter", "switch to the base model",
    "use the plain base model", "no adapter please, base model only", "remove the adapter from this chat",
    "switch adapters off", "use base",
]
SWITCH_ZH = ["切换到{a}", "换成{a}", "用{a}", "把适配器换成{a}", "启用{a}", "这个对话用{a}", "请切换到{a}",
             "适配器改成{a}", "帮我切到{a}"]
SWITCH_NAMES_ZH = {"concise": ["concise", "concise适配器", "简洁适配器", "简短回答的适配器"],
                   "zh-tutor": ["zh-tutor", "中文辅导适配器", "zh-tutor适配器"]}
SWITCH_REASONS_EN = {"concise": ["the replies are far too wordy", "I want shorter replies", "keep it brief from now on",
                                 "too much text"],
                     "zh-tutor": ["I'm practising Chinese", "I want the answers in Chinese",
                                  "my student reads Chinese"],
                     "base": ["the adapter makes the answers weird", "I want the plain model"]}
SWITCH_REASONS_ZH = {"concise": ["你的回答太长了", "我想要短一点的回答"], "zh-tutor": ["我在学中文", "我想要中文讲解"],
                     "base": ["适配器的回答有点怪", "我想用原始模型"]}
SWITCH_BASE_ZH = ["切回基础模型", "关掉适配器", "不要用适配器了", "换回base模型", "停用适配器", "用基础模型就行"]
LIST_EN = [
    "which adapters are available?", "list the adapters", "what LoRA adapters are installed?", "show me all adapters",
    "what adapters can I switch to?", "list available LoRA adapters please", "do I have any adapters?",
    "which adapter options do I have?", "show the adapter list", "what adapters are there?",
    "list adapters", "Which LoRA adapters can this chat use?",
]
LIST_ZH = ["有哪些适配器？", "列出所有适配器", "现在能用哪些LoRA适配器？", "看看有哪些适配器可以切换", "适配器列表",
           "装了哪些适配器？", "显示可用的适配器"]
DATETIME_EN = [
    "what time is it?", "what's the time", "what's today's date?", "what day is it today?", "what's the date",
    "tell me the current time", "time now?", "what year is it?", "what's the date and time right now?",
    "is it Monday today?", "do you know what time it is?", "current time please", "which day of the week is it?",
    "what's today?", "date?",
]
DATETIME_ZH = ["现在几点？", "今天几号？", "今天星期几？", "现在是什么时间", "告诉我现在的日期和时间", "今天是几月几号",
               "现在几点了", "今天是哪一天？", "今年是哪一年？", "现在时间是？"]
INPAINT_EN = [
    "show me inpainting", "demo the masked-image inpainting", "run an inpainting demo",
    "hide parts of the test images and fill them in", "inpaint some {data}", "do inpainting with {model}",
    "mask {p}% of the images and fill them in", "run inpainting with a mask ratio of {r}",
    "show how the SSL model fills in missing patches", "inpaint {data} with {p}% masked",
    "let's see the inpainting demo on {data}",
]
INPAINT_ZH = ["演示一下图像修复", "做一次掩码补全", "遮住{p}%再补全", "用{model}做图像修复", "展示一下图像补全",
              "对{data}做一次修复演示", "遮住{p}%的{data}然后补全"]

# --- phrasing pools: no tool ------------------------------------------------------------------------------------------
SLOTS: dict[str, list[str]] = {
    "finding": ["sales rose 5% after the ad campaign", "users who got the email clicked twice as often",
                "the test passes on Linux but fails on Windows", "sleep improved when screens were off after 9pm",
                "the control group scored 12 points lower"],
    "doc": ["contract", "lease", "simple agreement", "work plan", "budget proposal", "NDA"],
    "party": ["a freelance designer", "my landlord", "a small bakery", "a summer intern", "a photography client"],
    "shape": ["circle", "square", "triangle", "star"],
    "shapes": ["circles", "squares", "triangles", "stars"],
    "colour": ["red", "green", "blue", "yellow"],
    "count": ["two", "three", "four", "five", "3", "6"],
    "lib": ["matplotlib", "turtle", "the HTML canvas", "SVG", "pygame", "CSS", "PIL"],
    "lang": ["Python", "JavaScript", "Java", "C++", "Go", "Rust", "TypeScript"],
    "lang2": ["JavaScript", "Java", "C++", "Go", "Rust", "TypeScript"],
    "pet_trick": ["dog to sit", "puppy to stay", "dog to come when called", "cat to use the scratching post",
                  "parrot to talk", "dog to stop pulling on the leash"],
    "race": ["marathon", "half marathon", "10k", "triathlon", "5k"],
    "weeks": ["8", "12", "16", "20"],
    "staff_topic": ["customer service", "our CRM", "safety rules", "the new checkout system"],
    "city": ["Boston", "Lyon", "Munich", "Osaka"],
    "model": ["GAN", "VAE", "diffusion model", "language model", "LoRA adapter"],
    "text": ["hello world", "meeting at noon", "good luck with the exam", "the quick brown fox"],
    "fmt": ["a Word file to PDF", "PNG images to JPG", "a CSV to Excel", "an MP4 to a GIF", "markdown to HTML",
            "a HEIC photo to JPEG"],
    "items": ["apples, pears, plums", "red, green, blue", "Alice 31, Bob 27", "monday, tuesday, friday"],
    "sentence": ["The committee approved the plan after a long discussion that lasted several hours.",
                 "We are writing to inform you that your order has been shipped and will arrive soon.",
                 "In my opinion I think that we should probably maybe start the project next week."],
    "app": ["VS Code", "Windows 11", "macOS", "Chrome", "Android", "Slack"],
    "field": ["data science", "UX design", "nursing", "teaching", "software engineering"],
    "pair": ["Windows to Linux", "iPhone to Android", "npm to pnpm", "Java to Kotlin", "VS Code to Vim"],
    "concept": ["compound interest", "the area of a circle", "standard deviation", "BMI", "a 15% tip",
                "the median of a list", "percentage change"],
    "t1": ["9:00", "10:30", "13:15", "14:00", "16:45"],
    "span": ["9:00-9:45", "10:30-11:45", "13:15-14:30", "14:00-15:30", "16:45-17:15", "8:30-10:00"],
    "room": ["3-B", "12", "4.07", "B-201"],
    "company": ["Acme", "a startup", "Siemens", "the city library"],
    "y1": ["2015", "2017", "2019", "2020"],
    "y2": ["2021", "2023", "2024"],
    "ver": ["1.2-3", "2.0.1-rc2", "3.11", "0.9.4", "5.2-1"],
    "phone": ["555-0134", "(415) 555-2671", "+44 20 7946 0958", "030-1234-5678"],
    "a_thing": ["a dog", "a horse", "a sunflower", "a castle", "a robot", "a dragon", "my house", "a sailing boat",
                "a red sports car", "a unicorn", "a pizza", "an owl", "a lighthouse", "a rocket", "a birthday cake"],
    "things": ["dogs", "horses", "flowers", "robots", "dragons", "cars", "trees", "birds"],
    "business": ["my bakery", "a coffee shop", "our football club", "my startup"],
    "person": ["my grandmother", "me as a pirate", "Albert Einstein", "my boss"],
    "scenery": ["mountains and a lake", "a beach at sunset", "snowy pine trees"],
    "t2": ["11:20", "12:05", "15:40", "18:10", "21:30"],
    "price": ["35", "120", "899", "1,200", "15.99"],
    "item": ["a used bike", "noise-cancelling headphones", "a winter coat", "a second-hand sofa", "a ticket to Paris"],
    "service": ["the DMV", "my bank", "the city council", "a taxi in Rome"],
    "year": ["1969", "1989", "2000", "2008", "2016"],
    "hours": ["3", "5", "7"], "gb": ["8", "16", "32"], "km": ["10", "25", "40"], "pct": ["40", "55", "70"],
    "score1": ["58", "62", "75"], "score2": ["80", "88", "91"],
    "code": ["404", "500", "0x80070005", "E-1021"], "area": ["212", "415", "020"], "age": ["35", "48", "60"],
    "temp": ["28", "33", "86"],
    "zh_thing": ["只狗", "匹马", "朵向日葵", "座城堡", "个机器人", "条龙", "只熊猫", "辆汽车", "棵树", "只小鸟"],
    "zh_thing_n": ["狗", "马", "向日葵", "城堡", "机器人", "龙", "熊猫", "汽车", "风景", "蛋糕"],
    "zh_scenery": ["山水画", "海边日落", "雪景"], "zh_business": ["面包店", "咖啡馆", "球队"],
    "zh_person": ["我奶奶", "我自己", "老板"], "zh_city": ["上海", "成都", "东京"],
    "money": ["20", "300", "250", "1,000", "49.99", "5000"],
    "cur1": ["dollars", "USD", "euros", "EUR", "pounds sterling", "GBP", "yen", "Swiss francs"],
    "cur2": ["euros", "yen", "RMB", "Canadian dollars", "pounds", "rupees", "won"],
    "zh_cur1": ["美元", "欧元", "英镑", "日元", "港币"], "zh_cur2": ["人民币", "日元", "韩元", "欧元", "泰铢"],
    "city2": ["Tokyo", "Sydney", "New York", "Dubai", "São Paulo"], "zh_city2": ["纽约", "伦敦", "悉尼", "巴黎"],
    "past_date": ["March 3, 1998", "July 20, 1969", "9/11/2001", "Christmas 2010", "January 1, 2000"],
    "zh_past_date": ["2003年5月20日", "2008年8月8日", "1999年12月31日", "1984年2月4日"],
    "zh_item": ["二手自行车", "降噪耳机", "冬天的外套", "演唱会门票"], "zh_service": ["中国移动", "银行", "12306"],
    "s1": ["3", "2", "1", "4"], "s2": ["1", "0", "2"],
    "pages": ["12-20", "45-60", "101-130", "3-9"],
    "range": ["3-4", "5-7", "2-3", "10-12"],
    "snippet_js": ["for (let i = 0; i < 3; i++) console.log(i);", "const add = (a, b) => a + b;",
                   "let names = users.map(u => u.name);"],
    "snippet_py": ["print([x * 2 for x in range(5)])", "def area(r): return 3.14 * r ** 2",
                   "total = sum(prices) / len(prices)"],
    "topic": ["climate change", "the French Revolution", "black holes", "remote work", "the history of tea"],
    "phrase_en": ["good morning", "thank you very much", "where is the train station?", "I love this song",
                  "see you tomorrow", "how much does this cost?"],
    "language": ["Chinese", "French", "Japanese", "Spanish", "German"],
    "zh_text": ["今天天气很好", "我们明天见", "这个多少钱？", "我正在学习编程"],
    # Chinese
    "zh_finding": ["广告投放后销量涨了5%", "收到邮件的用户点击率翻倍", "关掉屏幕后睡眠变好了"],
    "zh_doc": ["租房合同", "劳务协议", "保密协议", "项目计划书"],
    "zh_shape": ["圆", "正方形", "三角形", "五角星"],
    "zh_colour": ["红色", "蓝色", "绿色", "黄色"],
    "zh_count": ["两", "三", "五"],
    "zh_trick": ["坐下", "握手", "不乱叫", "定点上厕所"],
    "zh_field": ["数据分析", "产品经理", "前端开发", "设计"],
    "zh_sentence": ["经过长时间的讨论，委员会最终决定批准这个计划。",
                    "我们特此通知您，您的订单已经发货，很快就会送达。"],
    "zh_concept": ["复利", "圆的面积", "标准差", "BMI", "个税", "增长率"],
    "zh_company": ["一家创业公司", "腾讯", "市图书馆"],
}

NONE_TRIGGER_EN = [
    # draw
    "draw a conclusion from this: {finding}", "help me draw up a {doc} for {party}", "can you draw up a {doc}?",
    "how do I draw attention to my side projects on my CV?", "draw a comparison between Python and Java",
    "can you draw parallels between the Roman Empire and the British Empire?", "how do I draw a {shape} with {lib}?",
    "write {lang} code that draws {count} {colour} {shapes}",
    "the chess game ended in a draw — what are the tiebreak rules?",
    "any tips to draw better hands?", "what's a good way to draw up a weekly schedule?",
    "I drew a {shape} freehand and it looks wobbly, how do I improve?", "what conclusions can we draw from {finding}?",
    "how do artists draw perspective?", "write an SVG that draws a {colour} {shape}",
    "explain how to draw a flowchart in Mermaid", "my kid loves drawing — any good beginner books?",
    # train
    "how do I train my {pet_trick}?", "make me a {weeks}-week plan to train for a {race}",
    "what's the best way to train new staff on {staff_topic}?", "how long does it take to train for a {race}?",
    "I missed my train to {city}, what are my options?", "how are {model}s trained?",
    "what does the learning rate do when training a {model}?", "why does my GAN training loss oscillate?",
    "is it better to train with a bigger batch size?", "write a PyTorch training loop for a small CNN",
    "how many epochs should I train a VAE for?", "how do I train my focus?",
    "what should I eat while training for a {race}?",
    "how do you train a LoRA adapter in general?", "explain overfitting when training a model",
    # convert
    "convert this text to uppercase: {text}", "convert this JavaScript to Python: {snippet_js}",
    "convert this Python code to {lang2}: {snippet_py}", "how do I convert {fmt}?",
    "convert this list to JSON: {items}",
    "convert this sentence to passive voice: the cat chased the mouse", "convert '{text}' to title case",
    "how do I convert a string to an integer in {lang}?", "what's the formula to convert Celsius to Fahrenheit?",
    "convert my notes into a bulleted list: buy milk, call mum, fix bike",
    "convert this recipe to be vegan: eggs, butter, milk",
    "explain how to convert kilometres to miles in your head", "convert this paragraph into a tweet: {sentence}",
    # switch / concise
    "use concise language to rewrite this: {sentence}", "make this more concise: {sentence}",
    "write a concise summary of {topic}", "how do I switch to dark mode in {app}?",
    "I'm thinking about switching careers to {field}. Any advice?", "should I switch from {pair}?",
    "how do I switch branches in git?", "what does a network switch do?",
    "write a switch statement in {lang} for the days of the week", "help me write a concise cover letter opening",
    "be concise: what is an API?", "how do I switch between tabs with the keyboard?",
    # search
    "I'm searching for meaning in my work — any advice?", "write a binary search in {lang}",
    "how does a search engine rank pages?", "what's the time complexity of binary search?",
    "explain depth-first search", "tips for searching for a job in {field}", "how do I search within a file in vim?",
    "how do I find the largest element of a list in {lang}?", "where can I find good free datasets?",
    "search for meaning: what did Viktor Frankl argue?",
    # calculate
    "how do I calculate {concept}?", "write a {lang} function to calculate {concept}",
    "explain how banks calculate credit scores", "what's the formula for {concept}?",
    "how did people calculate orbits before computers?", "why is it hard to calculate the weather far ahead?",
    "write a calculator app in {lang}", "is mental math worth practising?",
    # times, ranges, versions, phone numbers
    "write a reminder for my meeting {span}", "proofread: 'The workshop runs {span} in room {room}.'",
    "I worked at {company} {y1}-{y2}. How do I list that on my CV?",
    "I need to read pages {pages} tonight, any tips to focus?",
    "after upgrading to v{ver} my build fails — what should I check?", "format this phone number nicely: {phone}",
    "the final score was {s1}-{s2}. Write a one-line match report.", "write a poem with {range} stanzas about the sea",
    "give me {range} ideas for a birthday party", "what happened in Europe 1939-1945?",
    "our standup is {span} every day, suggest an agenda", "is Python {ver} still supported?",
    "my train leaves at {t1}, write a text telling my host I'll be late",
    # time / date / images words in other senses
    "what time zone is Tokyo in?", "how do I format dates in {lang}?",
    "write a function that returns today's date in {lang}",
    "what's a good time to post on LinkedIn?", "how do I find time to read more?",
    "what's the difference between a picture and an image in English?",
    "how do I compress an image in {lang}?", "generate a list of 5 baby names", "generate a SQL table for a library",
    # how-to questions about other software or by hand, recommendations, text and date conversions
    "how do I draw a {shape} in PowerPoint?", "how do I make the background of a picture transparent in GIMP?",
    "how do I switch my phone to dark mode?", "recommend some good books about {topic}",
    "can you suggest a documentary about {topic}?", "convert 2024-03-05 to the format 'March 5, 2024'",
    "convert this date to ISO format: 5 March 2024", "what's a good app to draw diagrams on a tablet?",
    "how do I search my Gmail for old attachments?", "how do I calculate a percentage in Excel?",
]
NONE_TRIGGER_ZH = [
    "画蛇添足是什么意思？", "画龙点睛出自哪里？", "用matplotlib怎么画{zh_shape}？",
    "写一段Python turtle代码画{zh_count}个{zh_colour}的{zh_shape}",
    "我想学画画，有什么入门建议？", "帮我起草一份{zh_doc}", "从这些数据能得出什么结论：{zh_finding}",
    "怎么画好人物的手？",
    "“画饼”是什么意思？", "《蒙娜丽莎》是谁画的？", "用CSS画一个{zh_shape}怎么写？", "画思维导图有什么技巧？",
    "怎么训练狗狗{zh_trick}？", "帮我制定一个16周的马拉松训练计划", "新员工培训应该怎么安排？", "GAN是怎么训练的？",
    "训练VAE时学习率设多少合适？", "训练模型时过拟合怎么办？", "用PyTorch写一个训练循环", "如何训练自己的专注力？",
    "跑步训练后膝盖疼怎么办？", "训练LoRA需要多少数据？",
    "把这句话转成大写：{text}", "把这段Python代码转成{lang2}：{snippet_py}", "怎么把Word转换成PDF？",
    "把下面的列表转成JSON：{items}",
    "把这段文字转换成繁体：{zh_text}", "摄氏度和华氏度怎么换算？", "Python里怎么把字符串转换成整数？",
    "视频怎么转换成GIF？",
    "用简洁的语言改写：{zh_sentence}", "把这段话写得更简洁一些：{zh_sentence}", "Windows怎么切换到深色模式？",
    "我想转行做{zh_field}，有什么建议？", "git怎么切换分支？", "输入法怎么切换中英文？", "手机怎么切换到飞行模式？",
    "写一个二分查找的{lang}实现", "搜索引擎是怎么给网页排名的？", "找工作有什么技巧？",
    "广度优先搜索和深度优先搜索有什么区别？",
    "怎么在Linux里查找大文件？", "人生的意义要去哪里找？",
    "{zh_concept}怎么计算？", "写一个计算平均值的Python函数", "{zh_concept}的公式是什么？", "心算有什么技巧？",
    "会议时间是{span}，帮我写个通知", "我{y1}-{y2}年在{zh_company}工作，简历上怎么写？",
    "升级到v{ver}后编译报错，该检查什么？",
    "电话号码{phone}帮我格式化一下", "比分{s1}-{s2}，帮我写一句新闻标题", "给我{range}个生日派对的点子",
    "今晚要读第{pages}页，怎么保持专注？",
    "周会是{span}，帮我列个议程", "东京是哪个时区？", "Python里日期怎么格式化？", "写一个返回今天日期的JavaScript函数",
    "时间管理有什么好方法？", "生成一个五个字的店名", "帮我生成一段自我介绍", "图片太大了，用Python怎么压缩？",
    # 在别的软件里或手工怎么做、推荐、文字和日期的转换
    "怎么在PPT里画一个{zh_shape}？", "用铅笔怎么徒手画好一个{zh_shape}？", "安卓手机怎么切换到深色模式？",
    "推荐几本讲{zh_concept}的书", "Photoshop里怎么把图片背景去掉？", "把2024-03-05转换成“2024年3月5日”的格式",
    "Excel里怎么计算百分比？", "微信里怎么搜索聊天记录？",
]
# pictures of things the image models cannot draw (they draw digits 0-9 and four shapes): the model answers in text
NONE_UNDRAWABLE_EN = [
    "draw me {a_thing}", "can you draw {a_thing}?", "sketch {a_thing} for me", "paint {a_thing}",
    "generate a picture of {a_thing}", "make an image of {a_thing}", "I'd love a drawing of {a_thing}",
    "show me a picture of {a_thing}", "create an illustration of {a_thing} for my blog",
    "draw {a_thing} please", "could you make me a picture of {a_thing}?", "generate {count} images of {things}",
    "draw {count} {things}", "design a logo for {business}", "draw a portrait of {person}",
    "make a cartoon of {a_thing}", "can you paint me a landscape with {scenery}?",
]
NONE_UNDRAWABLE_ZH = [
    "画一{zh_thing}", "给我画一{zh_thing}", "帮我画{zh_thing}吧", "生成一张{zh_thing_n}的图片", "能画{zh_thing}吗？",
    "我想要一张{zh_thing_n}的图", "画一幅{zh_scenery}", "帮我设计一个{zh_business}的logo", "给我画个{zh_person}的头像",
    "生成几张{zh_thing_n}的图", "来一张{zh_thing_n}的插画",
]
# numbers that need no tool: times, prices, phone numbers, scores, versions, sizes in questions of fact or advice
NONE_NUMBERS_EN = [
    "my bus leaves at {t1} — is it worth bringing an umbrella for a day in {city}?",
    "the ferry departs at {t1} and arrives at {t2}; what should I do on board?",
    "I paid ${price} for {item}. Was that a reasonable price?", "is ${price} too much for {item}?",
    "what's the phone number for {service}?", "can you give me the customer service number of {company}?",
    "call me at {phone} — no wait, how do I share my contact card on iPhone?",
    "my flight lands at {t1}, what can I do in {city} with a few hours?", "is {year} a leap year?",
    "who won the {year} World Cup?", "what happened in {year}?",
    "the train to {city} takes {hours} hours — any book tips?",
    "my score went from {score1} to {score2} points, how do I keep improving?",
    "my laptop has {gb} GB of RAM, is that enough for gaming?",
    "I run {km} km a week, is that enough to stay fit?", "is {pct}% humidity comfortable indoors?",
    "what does error code {code} mean?", "what's the area code {area} for?",
    "I'm {age} — is it too late to learn piano?",
    "my room number is {room}, how do I write that in a formal letter?", "is {temp} degrees too hot for a run?",
]
NONE_NUMBERS_ZH = [
    "我的航班{t1}落地，在{zh_city}能逛点什么？", "我花了{price}块买了{zh_item}，贵不贵？", "{price}元买{zh_item}值吗？",
    "{zh_service}的客服电话是多少？", "我的火车{t1}出发，路上带什么书好？", "{year}年发生了什么大事？",
    "{year}年是闰年吗？", "我今年{age}岁，现在学钢琴晚不晚？", "电脑只有{gb}G内存，够玩游戏吗？",
    "每周跑{km}公里够不够？", "错误代码{code}是什么意思？", "考试从{score1}分提到了{score2}分，接下来怎么继续提高？",
    "室内湿度{pct}%舒服吗？", "我住{room}房间，正式信件里地址怎么写？",
]
# money, time zones and past dates: no tool can answer them (`convert_units` knows no currencies, `current_datetime`
# knows only *now*, here), so the reply is text, honest about rates and dates it cannot look up
NONE_NO_TOOL_FACTS_EN = [
    "how much is {money} {cur1} in {cur2}?", "convert {money} {cur1} to {cur2}", "{money} {cur1} to {cur2}?",
    "what's the exchange rate from {cur1} to {cur2} these days?", "is it a good time to change {cur1} into {cur2}?",
    "I have {money} {cur1}, roughly how many {cur2} is that?", "should I pay in {cur1} or {cur2} when abroad?",
    "what's the time difference between {city} and {city2}?", "how many hours ahead is {city2} of {city}?",
    "if it's {t1} in {city}, what time is it in {city2}?", "is {city2} on daylight saving time?",
    "what day of the week was {past_date}?", "what was the date exactly 100 years ago?",
    "which weekday did {past_date} fall on?", "how long ago was {year} in decades, roughly?",
    "what time zone is {city2} in?", "when is a good time to call {city2} from {city}?",
]
NONE_NO_TOOL_FACTS_ZH = [
    "{money}{zh_cur1}换成{zh_cur2}是多少？", "{zh_cur1}兑{zh_cur2}的汇率现在多少？",
    "把{money}{zh_cur1}换算成{zh_cur2}", "{money}{zh_cur1}能换多少{zh_cur2}",
    "出国刷卡用{zh_cur1}还是{zh_cur2}结算划算？",
    "{zh_city}和{zh_city2}有几个小时的时差？", "{zh_city2}比北京晚几个小时？",
    "北京{t1}的时候{zh_city2}是几点？",
    "{zh_past_date}是星期几？", "{zh_past_date}那天是周几来着", "{zh_city2}用的是哪个时区？",
    "从{zh_city}给{zh_city2}的朋友打电话，什么时间合适？",
]
NONE_TOPIC_EN = [
    "what is a GAN?", "how does a VAE work?", "explain LoRA", "what's the difference between a VAE and a GAN?",
    "what is RLHF?", "how does DPO differ from RLHF?", "what is retrieval-augmented generation?",
    "why use adapters instead of full fine-tuning?", "what does the KL term do in a VAE?", "what is mode collapse?",
    "what is masked image modelling?", "what's quantization in LLMs?", "what is chain-of-thought prompting?",
    "what's inpainting?", "explain the reparameterisation trick", "what is a LoRA rank?", "what is a reward model?",
    "how does a discriminator work in a GAN?", "what's an epoch in machine learning?",
    "what is self-supervised learning?",
    "explain KTO in simple terms", "what is a latent space?", "is LoRA better than prompt tuning?",
    "why do GAN images look sharper than VAE images?", "what does a tool-calling model do?",
]
NONE_TOPIC_ZH = [
    "GAN是什么？", "解释一下VAE的原理", "LoRA和全量微调有什么区别？", "什么是RLHF？", "DPO和RLHF有什么不同？",
    "什么是检索增强生成？", "为什么用适配器而不是全量微调？", "VAE里的KL项有什么作用？", "什么是模式崩溃？",
    "掩码图像建模是什么？", "大模型量化是什么意思？", "什么是思维链？", "图像修复是什么？", "什么是潜在空间？",
    "LoRA的秩是什么？", "奖励模型是做什么的？", "什么是自监督学习？", "epoch是什么意思？",
]
NONE_GENERAL_EN = [
    "how do I bake bread?", "what is the capital of France?", "who wrote Hamlet?", "why is the sky blue?",
    "what causes tides?", "how do vaccines work?", "what is photosynthesis?",
    "what's the best way to learn a language?",
    "how do I make coffee with a French press?", "what is inflation?", "how do airplanes stay in the air?",
    "why do cats purr?", "what's the tallest mountain in the world?", "how do I tie a tie?",
    "what is machine learning?",
    "what's the difference between weather and climate?", "how does a fridge work?", "how can I sleep better?",
    "why do leaves change colour in autumn?", "what is DNA?", "who painted the Sistine Chapel ceiling?",
    "what's the capital of Australia?", "how do I get rid of fruit flies?", "what is a black hole?",
    "why is the ocean salty?", "what's a healthy breakfast?", "how do I change a flat tyre?", "what is GDP?",
    "what does a product manager do?", "how do bees make honey?", "how do I stop procrastinating?",
    "what is the speed of light?", "who invented the telephone?", "how do I care for a cactus?",
]
NONE_GENERAL_ZH = [
    "法国的首都是哪里？", "怎么做面包？", "天为什么是蓝色的？", "光合作用是什么？", "潮汐是怎么形成的？",
    "疫苗是怎么起作用的？",
    "怎么学好英语？", "什么是通货膨胀？", "飞机为什么能飞？", "猫为什么会打呼噜？", "世界上最高的山是哪座？",
    "怎么提高睡眠质量？", "秋天树叶为什么会变色？", "DNA是什么？", "《红楼梦》的作者是谁？", "澳大利亚的首都是哪里？",
    "怎么泡一杯好喝的绿茶？", "黑洞是什么？", "海水为什么是咸的？", "早餐吃什么比较健康？", "怎么去除衣服上的油渍？",
    "长城有多长？", "怎么养多肉植物？", "为什么会打哈欠？",
]
NONE_CODING_EN = [
    "write a Python function that reverses a string", "what does git rebase do?", "explain list comprehensions",
    "write a SQL query to count users by country", "how do I read a CSV with pandas?", "fix this: print 'hello'",
    "what's the difference between a list and a tuple?", "how do I center a div?", "explain async/await in JavaScript",
    "write a regex that matches email addresses", "what is a REST API?", "how do I undo the last git commit?",
    "why does my Python loop never end: while x > 0: print(x)",
    "write a bash one-liner to count lines in all .py files",
    "what's a Python decorator?", "how do I set up a virtual environment?", "explain Big O notation",
    "write a unit test for a function add(a, b)", "how do I parse JSON in Go?", "what is dependency injection?",
]
NONE_CODING_ZH = [
    "写一个冒泡排序", "解释一下Python的装饰器", "git rebase是干什么的？", "怎么用pandas读取CSV？",
    "列表和元组有什么区别？",
    "写一个判断回文的函数", "什么是RESTful API？", "JavaScript的闭包是什么？", "怎么撤销上一次git提交？",
    "写一个正则匹配手机号",
    "Python虚拟环境怎么创建？", "解释一下大O表示法",
]
NONE_WRITING_EN = [
    "write a haiku about autumn", "draft an email asking for a day off", "write a short story about a robot",
    "give me a slogan for a coffee shop", "write a birthday message for my sister", "write a limerick about a cat",
    "help me write a thank-you note to my teacher", "write a product description for a water bottle",
    "draft a polite reminder about an unpaid invoice", "write an opening line for a mystery novel",
    "summarize the plot of Romeo and Juliet", "write a toast for my best friend's wedding",
]
NONE_WRITING_ZH = [
    "写一首关于春天的诗", "帮我写一封请假邮件", "写一个关于机器人的小故事", "给咖啡店想一句广告语",
    "帮我写一段生日祝福",
    "写一封感谢老师的信", "帮我写个朋友圈文案", "总结一下《西游记》的故事",
]
NONE_TRANSLATE_EN = [
    "translate '{phrase_en}' into {language}", "how do you say '{phrase_en}' in {language}?",
    "translate this to English: {zh_text}", "what does '{zh_text}' mean in English?",
    "translate to {language}: {phrase_en}",
]
NONE_TRANSLATE_ZH = ["把“{phrase_en}”翻译成中文", "“{zh_text}”用英语怎么说？", "翻译成英文：{zh_text}",
                     "{phrase_en} 是什么意思？"]
NONE_GREETING_EN = [
    "hi", "hello!", "good morning", "how are you?", "who are you?", "what can you do?", "thanks", "bye!",
    "hey there", "nice to meet you", "good night", "you're awesome", "ok", "cool", "lol", "are you a robot?",
    "what's your name?", "I'm bored", "tell me a joke", "good evening!",
]
NONE_GREETING_ZH = ["你好", "你是谁？", "早上好", "谢谢", "你能做什么？", "晚安", "在吗？", "哈哈", "好的", "讲个笑话",
                    "你叫什么名字？", "下午好！"]

# --- follow-up phrasings --------------------------------------------------------------------------------------------
DRAW_AGAIN_EN = ["again", "do it again", "draw them again", "one more time", "same again please", "again please",
                 "redo that", "another batch", "draw that again", "repeat that"]
DRAW_AGAIN_ZH = ["再画一次", "再来一次", "再生成一次", "重新画一遍", "再来一批"]
DRAW_ONE_EN = ["draw another one", "one more", "another one please", "can I get one more?", "just one more"]
DRAW_ONE_ZH = ["再画一个", "再来一张", "再来一个", "再生成一张"]
DRAW_MORE_EN = ["draw {k} more", "{kw} more please", "give me {k} more", "make {kw} more of those", "{k} more"]
DRAW_MORE_ZH = ["再画{kz}个", "再来{k}张", "再生成{kz}张", "再画{k}个"]
DRAW_CHANGE_DIGIT_EN = ["now a {d}", "now do the digit {d}", "and a {d}?", "what about {dw}?", "same but a {d}"]
DRAW_CHANGE_DIGIT_ZH = ["换成数字{d}", "再画数字{d}", "那{d}呢？", "改成{d}"]
DRAW_CHANGE_COLOUR_EN = ["same but {c}", "what about {c} ones?", "now make them {c}", "try {c}"]
DRAW_CHANGE_COLOUR_ZH = ["换成{cz}的", "改成{cz}", "{cz}的呢？"]
CALC_FU_EN = [
    ("and times {k}?", "{r}*{k}"), ("now multiply that by {k}", "{r}*{k}"), ("divide that by {k}", "{r}/{k}"),
    ("add {k} to that", "{r}+{k}"), ("minus {k}?", "{r}-{k}"), ("what's that squared?", "{r}**2"),
    ("and the square root of that?", "sqrt({r})"), ("times {k}?", "{r}*{k}"), ("now subtract {k}", "{r}-{k}"),
    ("what if I double it?", "{r}*2"), ("half of that?", "{r}/2"), ("plus {k}?", "{r}+{k}"),
    ("then divided by {k}?", "{r}/{k}"),
]
CALC_FU_ZH = [
    ("再乘以{k}呢？", "{r}*{k}"), ("那再除以{k}", "{r}/{k}"), ("再加{k}是多少", "{r}+{k}"), ("减去{k}呢", "{r}-{k}"),
    ("这个数的平方是多少", "{r}**2"), ("它的平方根呢？", "sqrt({r})"), ("翻倍是多少", "{r}*2"), ("一半呢？", "{r}/2"),
    ("再乘{k}", "{r}*{k}"),
]
# A number from the conversation times a rate and a duration: every factor goes into one expression.
FACTS_EN = [
    ("how many calories does an apple have?", "An average apple has about {n} calories.", (80, 110), "eat",
     "calories"),
    ("how much water does a shower use per minute?", "About {n} litres per minute.", (6, 12), "take",
     "litres of water"),
    ("what does a coffee cost at the campus cafe?", "A regular coffee is {n} cents there.", (150, 400), "buy", "cents"),
    ("how many pages does a typical chapter have?", "Around {n} pages.", (12, 40), "read", "pages"),
    ("how much protein is in an egg?", "An egg has about {n} grams of protein.", (5, 8), "eat", "grams of protein"),
]
FACTS_ZH = [
    ("一个苹果有多少卡路里", "一个中等大小的苹果大约有{n}卡路里。", (80, 110), "吃", "卡路里", "个"),
    ("一杯咖啡多少钱？", "一杯美式大约{n}元。", (15, 40), "喝", "元", "杯"),
    ("一个鸡蛋有多少蛋白质？", "一个鸡蛋大约有{n}克蛋白质。", (5, 8), "吃", "克蛋白质", "个"),
]
FACT_RATE_EN = [
    ("if I {verb} {a} a day for {w} weeks, how many {unit} is that?", "{n}*{a}*7*{w}"),
    ("ok and if I {verb} {a} a day for {k} days, how many {unit}?", "{n}*{a}*{k}"),
    ("so {a} a day for {w} weeks comes to how many {unit}?", "{n}*{a}*7*{w}"),
    ("what if I {verb} {a} every day for a {w}-week stretch — total {unit}?", "{n}*{a}*7*{w}"),
    ("{a} per day over {k} days, how many {unit} in total?", "{n}*{a}*{k}"),
    ("and {a} a week for {m} weeks?", "{n}*{a}*{m}"),
]
FACT_RATE_ZH = [
    ("如果我每天{verb}{a}{cl}，{verb}{w}周，一共多少{unit}？", "{n}*{a}*7*{w}"),
    ("每天{a}{cl}，连续{k}天，总共多少{unit}？", "{n}*{a}*{k}"),
    ("那一天{a}{cl}，{w}个星期下来是多少{unit}？", "{n}*{a}*7*{w}"),
]
CALC_NEW_EN = ["what about {e}?", "and {e}?", "now {e}", "ok, {e} too"]
CALC_NEW_ZH = ["那{e}呢？", "再算{e}", "{e}呢"]
SWITCH_BACK_EN = ["switch back", "undo that", "go back", "switch it back please", "revert the adapter",
                  "change it back", "put it back how it was"]
SWITCH_BACK_ZH = ["切回去", "换回来", "改回原来的", "撤销切换"]
YES_EN = ["yes", "yes please", "ok do it", "sure, go ahead", "yep", "confirm", "yes, run it"]
YES_ZH = ["好的", "可以，执行吧", "确认", "行，开始吧", "是的"]
SEARCH_THAT_EN = ["search my notes for that", "what do my documents say about it?",
                  "look that up in the knowledge base", "check my notes on that", "find that in the docs"]
SEARCH_THAT_ZH = ["在我的笔记里搜一下这个", "文档里怎么说的？查一下", "在知识库里查查这个"]
SEARCH_ALSO_EN = ["now search for {t}", "and {t}?", "search for {t} too", "also look up {t}", "what about {t}?"]
SEARCH_ALSO_ZH = ["再搜一下{t}", "那{t}呢？", "也查一下{t}"]
CONVERT_TO_EN = ["and in {u}?", "what about in {u}?", "now in {u}", "and {u}?"]
CONVERT_TO_ZH = ["那换成{u}呢？", "{u}呢？", "再换算成{u}"]
CONVERT_VALUE_EN = ["what about {v}?", "and {v}?", "now do {v}", "same for {v}"]
CONVERT_VALUE_ZH = ["那{v}呢？", "{v}呢", "再算一下{v}的"]
TRAIN_OTHER_MODEL_EN = ["now do the same with a {m}", "and train a {m} too", "same thing but a {m}",
                        "also a {m} please"]
TRAIN_OTHER_MODEL_ZH = ["再用{m}训练一个", "{m}也训练一个", "同样的设置再训练一个{m}"]
TRAIN_OTHER_DATA_EN = ["and one on {d} too", "now the same on {d}", "do {d} as well"]
TRAIN_OTHER_DATA_ZH = ["{d}数据也训练一个", "换成{d}数据再来一次"]
TRAIN_EPOCHS_EN = ["make it {e} epochs", "actually, {e} epochs", "use {e} epochs instead"]
TRAIN_EPOCHS_ZH = ["改成{e}轮", "训练{e}轮吧", "epochs改成{e}"]
NONE_FU_EN = [
    "thanks!", "thank you", "cool", "great, thanks", "nice!", "explain that more simply", "why?", "ok", "got it",
    "perfect", "can you summarize that in one sentence?", "what does that mean?", "interesting, tell me more",
    "are you sure?", "awesome", "hmm, ok", "that's helpful", "can you explain how that works?",
]
NONE_FU_ZH = ["谢谢！", "好的", "能解释得简单一点吗？", "为什么？", "明白了", "太好了", "这是什么意思？",
              "还有呢？", "厉害", "能再详细说说吗？", "收到"]
NONE_FU_AFTER_DRAW_EN = ["how does the model draw them?", "why do they look blurry?", "are these drawn by a GAN?",
                         "how do you draw them so fast?", "these look great, thanks", "why is one of them odd?"]
NONE_FU_AFTER_DRAW_ZH = ["这些图是怎么生成的？", "为什么有点模糊？", "画得不错，谢谢", "是用GAN画的吗？"]
NONE_FU_AFTER_CALC_EN = ["how did you calculate that?", "thanks, that's what I got too", "is that exact?",
                         "can you show the steps?"]
NONE_FU_AFTER_CALC_ZH = ["怎么算出来的？", "谢谢，我也算的是这个", "能写出计算步骤吗？"]
NONE_FU_AFTER_TEXT_EN = ["what about in Chinese?", "say that in Chinese please", "explain that more simply",
                         "can you give an example?", "make it shorter", "convert that into a bulleted list",
                         "turn that into a table", "draw a conclusion from that",
                         "can you search for a simpler word for that?"]
# After the assistant declined and offered something else, or proposed a call: "no thanks" is no call.
OFFERS_EN = [
    ("can you draw a dog?", "I can't draw dogs: the image models know only the digits 0-9 and four simple shapes. "
     "Shall I draw one of those?"),
    ("can you draw my logo?", "I can only draw digits and simple coloured shapes. Shall I draw a star instead?"),
    ("train a model on my photos", "The image tools train on the built-in digits and shapes data only. Want me to "
     "train a VAE on shapes instead?"),
    ("what's the weather like?", "I have no internet access, so I can't check the weather. I can tell you the time "
     "if that helps."),
]
OFFERS_ZH = [
    ("画一只猫", "抱歉，我的图像模型只能画数字0-9和简单的形状（圆、正方形、三角形、星星）。要画一个吗？"),
    ("帮我训练一个识别照片的模型", "图像工具只能用自带的数字和形状数据训练。要不要用形状数据训练一个VAE？"),
    ("今天天气怎么样？", "我无法联网，查不了天气。需要的话我可以告诉你现在的时间。"),
]
DECLINE_EN = ["nah, it's fine", "no thanks", "never mind", "no, that's fine", "nope, forget it", "it's ok, no need",
              "no thank you", "maybe later", "not now", "no, all good"]
DECLINE_ZH = ["不用了", "算了", "不用，谢谢", "没事，不需要", "那就算了吧", "先不用"]
NONE_FU_AFTER_TEXT_ZH = ["用中文说一下", "能举个例子吗？", "说得简单点", "再短一点", "整理成列表", "翻译成英文"]

# A few earlier exchanges (general chat) and explanations of the tools' topics.
CHAT_EN = [
    ("Hi!", "Hello! How can I help?"), ("What's a good name for a cat?", "How about Miso, Pepper or Luna?"),
    ("I'm learning Python.", "Great! What would you like to know?"),
    ("Can you help me plan my week?", "Sure — what do you need to fit in?"),
    ("How do I boil an egg?", "Put it in boiling water for 7–9 minutes, then cool it in cold water."),
    ("What's the capital of Italy?", "Rome."),
    ("Tell me a joke.", "Why did the scarecrow win an award? He was outstanding in his field."),
    ("I have an exam tomorrow.", "Good luck! Want to review anything together?"),
]
CHAT_ZH = [
    ("你好！", "你好！有什么可以帮你？"), ("我在学Python。", "很好！想了解哪方面？"),
    ("明天要考试了。", "加油！需要一起复习吗？"),
    ("推荐一本书吧。", "可以读读《活着》，篇幅不长但很动人。"), ("怎么煮鸡蛋？", "水开后煮7到9分钟，再放冷水里冷却。"),
    ("意大利的首都是哪里？", "罗马。"),
]
EXPLAIN_EN = {
    "LoRA": "LoRA fine-tunes a model by learning small low-rank matrices added to frozen weights.",
    "GAN": "A GAN trains a generator against a discriminator until its images look real.",
    "VAE": "A VAE encodes images into a latent distribution and decodes samples from it.",
    "RLHF": "RLHF tunes a model with a reward learned from human preferences.",
    "retrieval": "Retrieval finds relevant passages and gives them to the model as context.",
    "quantization": "Quantization stores weights with fewer bits to save memory and time.",
    "mode collapse": "Mode collapse is when a GAN produces only a few kinds of output.",
}
EXPLAIN_ZH = {
    "LoRA": "LoRA 通过在冻结的权重上学习低秩矩阵来微调模型。",
    "GAN": "GAN 让生成器和判别器相互对抗，直到生成的图片足够逼真。",
    "VAE": "VAE 把图片编码成潜在分布，再从中采样解码出图片。",
    "RLHF": "RLHF 用从人类偏好中学到的奖励来调整模型。",
    "量化": "量化用更少的比特存储权重，节省内存和时间。",
}
KNOWLEDGE_SNIPPETS = {
    "LoRA": ("knowledge/lora-peft.md", "LoRA: Low-Rank Adaptation",
             "LoRA adds to a frozen weight matrix W a low-rank update B·A."),
    "VAE": ("knowledge/vae.md", "The idea", "A variational autoencoder makes the code a probability distribution."),
    "GANs": ("knowledge/gan.md", "Training", "The generator and the discriminator are trained in turns."),
    "RLHF": ("knowledge/rlhf-kto-dpo.md", "RLHF",
             "A reward model learns from human preferences; the policy is tuned against it."),
    "retrieval": ("knowledge/retrieval.md", "Hybrid search", "Passages are ranked by BM25 and embeddings together."),
    "adapters": ("knowledge/adapters.md", "Shipped adapters",
                 "concise gives short answers; zh-tutor explains in Chinese."),
    "quantization": ("knowledge/quantization.md", "int8 on CPU",
                     "Linear layers are quantized to int8 except outliers."),
    "uploading documents": ("knowledge/knowledge-base.md", "Uploading",
                            "Drop files into the Knowledge tab; they are indexed at once."),
}
MULTI_DOC_EN = [
    ("the travel budget", "uploads/budget-2024.xlsx (Travel)",
     "Travel budget: 1200 per quarter for the whole team.", 1200),
    ("the monthly rent", "uploads/lease.pdf (page 2)", "The monthly rent is 950, due on the first of each month.", 950),
    ("how many licences we bought", "uploads/it-notes.md (Licences)",
     "We bought 35 licences of the design tool in March.", 35),
    ("the hourly rate in my contract", "uploads/contract.docx (Payment)", "The contractor is paid 65 per hour.", 65),
    ("the team size", "uploads/plan.md (Staffing)", "The project team has 14 people across two sites.", 14),
    ("my daily step goal", "uploads/health-notes.txt (Goals)", "Daily step goal: 8000 steps.", 8000),
]
MULTI_DOC_ZH = [
    ("差旅预算", "uploads/预算.xlsx (差旅)", "差旅预算：每季度 1200 元。", 1200),
    ("月租", "uploads/租房合同.pdf (第2页)", "月租金为 3500 元，每月1日前支付。", 3500),
    ("团队人数", "uploads/计划.md (人员)", "项目组共有 14 人。", 14),
    ("时薪", "uploads/合同.docx (报酬)", "时薪 80 元，按月结算。", 80),
]
MULTI_DOC_OPS_EN = [("and multiply it by {k}", "{n}*{k}"), ("then divide it by {k}", "{n}/{k}"),
                    ("and add {k} to it", "{n}+{k}")]
MULTI_DOC_OPS_ZH = [("，然后乘以{k}", "{n}*{k}"), ("，再除以{k}", "{n}/{k}"), ("，再加上{k}", "{n}+{k}")]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]


class Generator:
    """Makes cases category by category; phrasing pools are split so the eval file has phrasings of its own."""

    def __init__(self, convert: Callable[[dict], str], seed: int = SEED) -> None:
        self.convert = convert  # runs the unit-converter plugin: arguments -> its result text
        self.seed = seed
        self._splits: dict[str, tuple[list, list]] = {}
        self.client = ClientCases(self.t)

    # --- helpers ------------------------------------------------------------------------------------------------
    def t(self, rng: random.Random, split: str, name: str, items: list):
        """Pick a phrasing; pools of 4+ items keep ~15% of their items for the eval split only."""
        if name not in self._splits:
            order = list(range(len(items)))
            random.Random(f"{self.seed}:{name}").shuffle(order)
            k = max(1, round(len(items) * EVAL_PHRASING_SHARE)) if len(items) >= 4 else 0
            held = sorted(order[:k])
            self._splits[name] = ([items[i] for i in range(len(items)) if i not in held], [items[i] for i in held])
        train, held = self._splits[name]
        return rng.choice(held if split == "eval" and held else train)

    @staticmethod
    def fill_slots(rng: random.Random, template: str) -> str:
        return re.sub(r"\{(\w+)\}", lambda m: rng.choice(SLOTS[m.group(1)]), template)

    # --- drawing ------------------------------------------------------------------------------------------------
    @staticmethod
    def draw_subject(rng: random.Random, lang: str) -> dict:
        if rng.random() < 0.5:
            return {"kind": "digit", "d": rng.randrange(10)}
        s = {"kind": "shape", "shape": rng.choice(SHAPES), "colour": None, "size": None}
        if rng.random() < 0.75:
            s["colour"] = rng.choice(COLOURS)
        if rng.random() < 0.35:
            s["size"] = rng.choice(SIZES)
        s["size_w"] = rng.choice(SIZE_EN[s["size"]]) if s["size"] and lang == "en" else None
        s["shape_zh"] = rng.choice(SHAPE_ZH[s["shape"]])
        s["sep"] = rng.choice(["的", "的", ""])
        return s

    @staticmethod
    def shape_phrase(s: dict, lang: str, plural: bool = False) -> str:
        if lang == "en":
            words = [w for w in (s.get("size_w"), s.get("colour")) if w] + [s["shape"] + ("s" if plural else "")]
            return " ".join(words)
        size = SIZE_ZH[s["size"]] if s.get("size") else ""
        if s.get("colour"):
            return f"{COLOUR_ZH[s['colour']]}{s['sep'] or ('的' if size else '')}{size}{s['shape_zh']}"
        return f"{size}{s['shape_zh']}"

    def draw_prompt(self, s: dict, lang: str, plural: bool = False) -> str:
        if s["kind"] == "digit":
            return f"digit {s['d']}" if lang == "en" else f"数字{s['d']}"
        return self.shape_phrase(s, lang, plural)

    def draw_request(self, rng: random.Random, split: str, lang: str) -> tuple[str, dict, dict]:
        """A drawing request: (message, arguments, subject)."""
        s = self.draw_subject(rng, lang)
        r = rng.random()
        # An explicit count of one ("just one image") must reach `n`: otherwise the tool's default of 4 is drawn.
        count = None if r < 0.52 else 1 if r < 0.64 else rng.randint(2, 12)
        plural = False
        if lang == "en":
            if s["kind"] == "digit":
                d, dw = s["d"], EN_DIGIT[s["d"]]
                if count is None:
                    subject = rng.choice([f"{article(str(d))} {d}", f"the digit {d}", f"digit {d}", f"the number {d}",
                                          f"{article(dw)} {dw}", f"the digit {dw}", f"a handwritten {d}",
                                          f"number {dw}"])
                elif count == 1:
                    subject = rng.choice([f"just one {d}", f"one single {d}", f"1 image of the digit {d}",
                                          f"only one {dw}", f"just one image of the digit {d}", f"a single {d}",
                                          f"only 1 picture of {article(str(d))} {d}",
                                          f"one image of a {d}, only one"])
                else:
                    c, cw = count, EN_COUNT[count]
                    subject = rng.choice([f"{c} {d}s", f"{cw} {d}s", f"{cw} {EN_DIGIT_PLURAL[d]}",
                                          f"{c} images of the digit {d}", f"{cw} pictures of the number {d}",
                                          f"{c} samples of digit {d}", f"{cw} handwritten {d}s"])
            else:
                if count is None:
                    plural = rng.random() < 0.2
                    phrase = self.shape_phrase(s, lang, plural)
                    subject = phrase if plural else f"a {phrase}"
                elif count == 1:
                    phrase = self.shape_phrase(s, lang)
                    subject = rng.choice([f"just one {phrase}", f"a single {phrase}", f"just one image of a {phrase}",
                                          f"only one picture of a {phrase}", f"one single {phrase}",
                                          f"1 image of a {phrase}", f"a {phrase} (just one)"])
                else:
                    c, cw = count, EN_COUNT[count]
                    plural = rng.random() < 0.85
                    phrase = self.shape_phrase(s, lang, plural)
                    subject = (rng.choice([f"{cw} {phrase}", f"{c} {phrase}", f"{cw} images of {phrase}"]) if plural
                               else rng.choice([f"{c} pictures of a {phrase}", f"{cw} images of a {phrase}"]))
            template = self.t(rng, split, "draw_en", DRAW_EN)
            message = fill(en_noise(rng, template), s=subject)
        else:
            if s["kind"] == "digit":
                d, dz = s["d"], ZH_DIGIT[s["d"]]
                if count is None:
                    subject = rng.choice([f"一个数字{d}", f"数字{d}", f"一个{d}", f"数字{dz}", f"个{d}"])
                elif count == 1 and rng.random() < 0.5:  # "一个" is also just an article: only 只/就 make it a count
                    count = None
                    subject = f"一个数字{d}"
                elif count == 1:
                    subject = rng.choice([f"一张数字{d}就行", f"只要一张数字{d}", f"就一个{d}", f"只一个数字{d}"])
                else:
                    c, cz = count, ZH_COUNT[count]
                    subject = rng.choice([f"{cz}个数字{d}", f"{c}个{d}", f"{cz}张数字{d}的图片", f"{cz}个{dz}"])
            else:
                phrase = self.shape_phrase(s, lang)
                if count == 1 and rng.random() < 0.5:
                    subject = rng.choice([f"一张{phrase}就行", f"只要一张{phrase}", f"就一个{phrase}",
                                          f"只一个{phrase}"])
                elif count is None or count == 1:
                    count = None
                    subject = rng.choice([f"一个{phrase}", phrase, f"一个{phrase}"])
                else:
                    subject = rng.choice([f"{ZH_COUNT[count]}个{phrase}", f"{count}个{phrase}"])
            template = self.t(rng, split, "draw_zh", DRAW_ZH)
            message = fill(zh_noise(rng, template), s=subject)
        arguments: dict = {"prompt": self.draw_prompt(s, lang, plural)}
        if count is not None:
            arguments["n"] = count
        extra = rng.random()
        if extra < 0.07:
            kind = rng.choice(["vae", "gan"])
            dataset = "digits" if s["kind"] == "digit" else "shapes"
            if rng.random() < 0.5:
                name = kind
                words = {"vae": ["the VAE", "a VAE"], "gan": ["the GAN", "a GAN"]}[kind]
                said = rng.choice(words) if lang == "en" else kind.upper()
            else:
                name = said = f"{kind}-{dataset}"
            message = append_before_punctuation(message, rng.choice([f" with {said}", f" using {said}"])
                                                if lang == "en" else rng.choice([f"，用{said}", f"，模型用{said}"]))
            arguments["model"] = name
        elif extra < 0.11:
            seed = rng.choice([0, 1, 7, 42, 123, 2024, rng.randint(1, 9999)])
            said = (rng.choice([f" with seed {seed}", f" (seed {seed})"]) if lang == "en"
                    else rng.choice([f"，种子用{seed}", f"，随机种子设为{seed}"]))
            message = append_before_punctuation(message, said)
            arguments["seed"] = seed
        return message, arguments, s

    def gen_draw(self, rng: random.Random, split: str, lang: str) -> Case:
        message, arguments, _ = self.draw_request(rng, split, lang)
        return Case(message, "generate_images", arguments, lang=lang)

    # --- calculator -----------------------------------------------------------------------------------------------
    @staticmethod
    def number(rng: random.Random) -> float:
        r = rng.random()
        if r < 0.55:
            return rng.randint(2, 99)
        if r < 0.8:
            return rng.randint(100, 999)
        if r < 0.88:
            return rng.randint(1000, 99999)
        return round(rng.uniform(0.5, 99), rng.choice([1, 2]))

    @staticmethod
    def shown(rng: random.Random, x: float) -> str:
        if float(x).is_integer() and x >= 1000 and rng.random() < 0.3:
            return f"{int(x):,}"
        return num_text(x)

    def calc_expression(self, rng: random.Random, lang: str, integer: bool = False) -> tuple[str, str]:
        """(how the user writes it, the Python expression) for one piece of arithmetic."""
        kinds = ["binary"] * 5 + ["paren", "chain", "sqrt", "power", "percent", "mixed"]
        kind = rng.choice(kinds)
        sp = rng.choice(["", " "]) if lang == "en" else rng.choice(["", "", " "])
        ops_en = {"+": (["+"], ["plus"]), "-": (["-"], ["minus"]), "*": (["*", "x", "×"], ["times", "multiplied by"]),
                  "/": (["/", "÷"], ["divided by", "over"])}
        ops_zh = {"+": ["+", "加", "加上"], "-": ["-", "减", "减去"], "*": ["*", "×", "乘以", "乘"],
                  "/": ["/", "÷", "除以"]}

        def op_word(op: str) -> str:
            if lang == "zh":
                return rng.choice(ops_zh[op])
            symbols, words = ops_en[op]
            return f"{sp}{rng.choice(symbols)}{sp}" if rng.random() < 0.65 else f" {rng.choice(words)} "

        if kind == "binary" or integer and kind in ("percent", "sqrt", "mixed"):
            op = rng.choice("+-*/")
            a = self.number(rng) if not integer else rng.randint(2, 999)
            b = self.number(rng) if not integer else rng.randint(2, 99)
            if op == "/" and (integer or rng.random() < 0.5):
                b = rng.randint(2, 40)
                a = b * rng.randint(2, 99)
            if op == "-" and integer and b > a:
                a, b = b, a
            a_txt, b_txt = num_text(a), num_text(b)
            if lang == "en" and a <= 12 and b <= 12 and float(a).is_integer() and float(b).is_integer() \
                    and rng.random() < 0.25:
                shown = f"{EN_COUNT.get(int(a), a_txt)} {ops_en[op][1][0]} {EN_COUNT.get(int(b), b_txt)}"
            else:
                shown = f"{self.shown(rng, a)}{op_word(op)}{self.shown(rng, b)}"
            return shown, f"{a_txt}{op}{b_txt}"
        if kind == "paren":
            a, b, c = rng.randint(2, 99), rng.randint(2, 99), rng.randint(2, 20)
            o1, o2 = rng.choice("+-"), rng.choice("*/")
            if o2 == "/" and integer:
                o2 = "*"
            expr = f"({a}{o1}{b}){o2}{c}"
            if lang == "en" and rng.random() < 0.35:
                lead = {"+": f"the sum of {a} and {b}", "-": f"{a} minus {b}"}[o1]
                tail = {"*": f"times {c}", "/": f"divided by {c}"}[o2]
                return f"{lead}, {'all ' if o1 == '-' else ''}{tail}", expr
            if lang == "zh" and rng.random() < 0.35:
                lead = {"+": f"{a}加{b}的和", "-": f"{a}减{b}的差"}[o1]
                tail = {"*": f"乘以{c}", "/": f"除以{c}"}[o2]
                return lead + tail, expr
            paren = ("(", ")") if lang == "en" or rng.random() < 0.6 else ("（", "）")
            mul = {"*": rng.choice(["*", "×"]), "/": rng.choice(["/", "÷"])}[o2]
            return f"{paren[0]}{a}{sp}{o1}{sp}{b}{paren[1]}{sp}{mul}{sp}{c}", expr
        if kind == "chain":
            a, b, c = rng.randint(2, 999), rng.randint(2, 99), rng.randint(2, 99)
            o1, o2 = rng.choice("+-*"), rng.choice("+-*")
            return f"{a}{sp}{o1}{sp}{b}{sp}{o2}{sp}{c}", f"{a}{o1}{b}{o2}{c}"
        if kind == "power":
            a, b = rng.randint(2, 30), rng.randint(2, 10)
            if lang == "en":
                forms = [f"{a}^{b}", f"{a}**{b}", f"{a} to the power of {b}", f"{a} to the power {b}"]
                forms += [f"{a} squared"] * (b == 2) + [f"{a} cubed"] * (b == 3)
            else:
                forms = [f"{a}的{b}次方", f"{a}^{b}", f"{a}的{b}次幂"]
                forms += [f"{a}的平方"] * (b == 2) + [f"{a}的立方"] * (b == 3)
            return rng.choice(forms), f"{a}**{b}"
        if kind == "sqrt":
            n = rng.randint(2, 40) ** 2 if rng.random() < 0.6 else rng.randint(2, 9999)
            forms = ([f"sqrt({n})", f"the square root of {n}", f"√{n}", f"square root of {n}"] if lang == "en"
                     else [f"{n}的平方根", f"根号{n}", f"√{n}", f"{n}开平方"])
            return rng.choice(forms), f"sqrt({n})"
        if kind == "percent":
            p = rng.choice([5, 10, 12, 15, 18, 20, 25, 30, 7.5, 40, 75, 2.5, 12.5, 17.5, 8.25, 3.75, 0.5])
            x = rng.randint(20, 5000) if rng.random() < 0.7 else round(rng.uniform(10, 2000), 2)
            forms = ([f"{num_text(p)}% of {x}", f"{num_text(p)} percent of {x}"] if lang == "en"
                     else [f"{x}的{num_text(p)}%", f"{x}的百分之{num_text(p)}"])
            return rng.choice(forms), f"{x}*{num_text(p)}/100"
        # mixed: a function or power inside a longer expression
        a, b, n = rng.randint(2, 50), rng.randint(2, 9), rng.randint(2, 30) ** 2
        form = rng.choice([("sqrt({n}){sp}+{sp}{a}", "sqrt({n})+{a}"), ("{a}{sp}*{sp}sqrt({n})", "{a}*sqrt({n})"),
                           ("{a}^{b}{sp}-{sp}{n}", "{a}**{b}-{n}"),
                           ("2{sp}*{sp}({a}{sp}+{sp}{b}){sp}-{sp}{n}", "2*({a}+{b})-{n}"),
                           ("({n}{sp}-{sp}{a}){sp}/{sp}{b}", "({n}-{a})/{b}")])
        return fill(form[0], sp=sp, a=a, b=b, n=n), fill(form[1], a=a, b=b, n=n)

    def calc_request(self, rng: random.Random, split: str, lang: str, integer: bool = False) -> tuple[str, str]:
        if rng.random() < 0.2 and not integer:
            pool = CALC_WORD_EN if lang == "en" else CALC_WORD_ZH
            template, expr = self.t(rng, split, f"calc_word_{lang}", pool)
            values = {"a": rng.randint(2, 12), "p": rng.choice([3, 4.5, 12, 2.25, 19, 7]), "b": rng.randint(20, 900),
                      "k": rng.randint(2, 8), "x": rng.randint(50, 100), "y": rng.randint(50, 100),
                      "z": rng.randint(50, 100), "s": rng.randint(50, 800), "m": rng.randint(3, 24),
                      "w": rng.randint(2, 40), "h": rng.randint(2, 40), "r": rng.randint(1, 20)}
            if expr.startswith("{b}-{s}"):
                values["s"] = rng.randint(1, values["b"] - 1)
            words = {k: num_text(v) for k, v in values.items()}
            text = en_noise(rng, template) if lang == "en" else zh_noise(rng, template)
            return fill(text, **words), fill(expr, **words)
        shown, expr = self.calc_expression(rng, lang, integer)
        pool = CALC_EN if lang == "en" else CALC_ZH
        template = self.t(rng, split, f"calc_{lang}", pool)
        text = en_noise(rng, template) if lang == "en" else zh_noise(rng, template)
        return fill(text, e=shown), expr

    def gen_calc(self, rng: random.Random, split: str, lang: str) -> Case:
        message, expr = self.calc_request(rng, split, lang)
        return Case(message, "calculator", {"expression": expr}, lang=lang)

    # --- units ------------------------------------------------------------------------------------------------------
    UNIT_EN = {
        "km": (["km", "kilometer", "kilometre"], ["km", "kilometers", "kilometres"]),
        "m": (["m", "meter", "metre"], ["m", "meters", "metres"]), "cm": (["cm"], ["cm", "centimeters", "centimetres"]),
        "mm": (["mm"], ["mm", "millimeters"]), "mi": (["mile"], ["miles", "mi"]),
        "ft": (["foot", "ft"], ["feet", "ft"]),
        "in": (["inch"], ["inches"]), "yd": (["yard", "yd"], ["yards", "yd"]),
        "kg": (["kg", "kilogram", "kilo"], ["kg", "kilograms", "kilos"]), "g": (["g", "gram"], ["g", "grams"]),
        "lb": (["pound", "lb"], ["pounds", "lbs", "lb"]), "oz": (["ounce", "oz"], ["ounces", "oz"]),
        "C": (["°C", "degrees Celsius", "Celsius", "C"],) * 2,
        "F": (["°F", "degrees Fahrenheit", "Fahrenheit", "F"],) * 2,
        "K": (["K", "kelvin"],) * 2,
        "l": (["liter", "litre", "l", "L"], ["liters", "litres", "l", "L"]),
        "ml": (["ml", "milliliter", "mL"], ["ml", "milliliters", "millilitres", "mL"]),
        "gal": (["gallon", "gal"], ["gallons", "gal"]), "cup": (["cup"], ["cups"]),
    }
    UNIT_ZH = {"km": ["公里", "千米"], "m": ["米"], "cm": ["厘米"], "mm": ["毫米"], "mi": ["英里"], "ft": ["英尺"],
               "in": ["英寸"], "yd": ["码"], "kg": ["公斤", "千克"], "g": ["克"], "lb": ["磅"], "oz": ["盎司"],
               "C": ["摄氏度", "℃"], "F": ["华氏度", "℉"], "K": ["开尔文"], "l": ["升", "公升"], "ml": ["毫升"],
               "gal": ["加仑"], "cup": ["杯"]}
    DIMENSIONS = {"length": ["km", "m", "cm", "mm", "mi", "ft", "in", "yd"], "mass": ["kg", "g", "lb", "oz"],
                  "temperature": ["C", "F", "K"], "volume": ["l", "ml", "gal", "cup"]}
    COMMON_PAIRS = [("km", "mi"), ("mi", "km"), ("m", "ft"), ("ft", "m"), ("cm", "in"), ("in", "cm"), ("kg", "lb"),
                    ("lb", "kg"), ("g", "oz"), ("oz", "g"), ("C", "F"), ("F", "C"), ("K", "C"), ("C", "K"),
                    ("yd", "m"), ("mm", "in"), ("m", "yd"), ("km", "m"), ("ft", "cm"), ("l", "gal"), ("gal", "l"),
                    ("ml", "cup"), ("cup", "ml")]

    def unit_pair(self, rng: random.Random) -> tuple[str, str]:
        if rng.random() < 0.7:
            return rng.choice(self.COMMON_PAIRS)
        while True:
            dim = rng.choice(["length", "length", "mass", "temperature", "volume"])
            a, b = rng.sample(self.DIMENSIONS[dim], 2)
            if dim == "temperature" or {a, b} not in ({"mi", "mm"}, {"mi", "in"}, {"km", "mm"}, {"mi", "cm"}):
                return a, b

    @staticmethod
    def unit_value(rng: random.Random, unit: str) -> float:
        if unit == "C":
            return rng.choice([rng.randint(-30, 45), rng.randint(0, 250), 100, 37])
        if unit == "F":
            return rng.choice([rng.randint(-20, 110), 350, 98.6, 32])
        if unit == "K":
            return rng.randint(200, 400)
        r = rng.random()
        if r < 0.15:
            return 1
        if r < 0.75:
            return rng.randint(2, 500)
        return round(rng.uniform(0.2, 100), 1)

    def unit_text(self, rng: random.Random, unit: str, lang: str, value: float | None = None) -> str:
        if lang == "zh":
            return rng.choice(self.UNIT_ZH[unit])
        singular, plural = self.UNIT_EN[unit]
        return rng.choice(singular if value == 1 else plural)

    def quantity(self, rng: random.Random, value: float, unit: str, lang: str) -> str:
        v = num_text(value)
        word = self.unit_text(rng, unit, lang, value)
        if lang == "zh":
            if value < 0 and unit == "C" and rng.random() < 0.5:
                return f"零下{num_text(-value)}{rng.choice(['度', '摄氏度'])}"
            return f"{v}{word}"
        if word.startswith("°") or (len(word) <= 2 and rng.random() < 0.3):
            return f"{v}{word}"
        return f"{v} {word}"

    def convert_request(self, rng: random.Random, split: str, lang: str) -> tuple[str, dict]:
        contexts = CONVERT_EN_CONTEXT if lang == "en" else CONVERT_ZH_CONTEXT
        if rng.random() < 0.2:
            template, u1, u2, (low, high) = self.t(rng, split, f"convert_ctx_{lang}", contexts)
            value = rng.randint(low, high) if rng.random() < 0.8 else round(rng.uniform(low, high), 1)
            text = en_noise(rng, template) if lang == "en" else zh_noise(rng, template)
            u1_text = self.unit_text(rng, u1, lang, value)
            if lang == "en" and u1 in ("C", "F"):
                u1_text = "°" + u1
            message = fill(text, v=num_text(value), u1=u1_text, u2=self.unit_text(rng, u2, lang))
        else:
            u1, u2 = self.unit_pair(rng)
            value = self.unit_value(rng, u1)
            template = self.t(rng, split, f"convert_{lang}", CONVERT_EN if lang == "en" else CONVERT_ZH)
            text = en_noise(rng, template) if lang == "en" else zh_noise(rng, template)
            quantity = self.quantity(rng, value, u1, lang)
            message = fill(text.replace("{v} {u1}", "{q}").replace("{v}{u1}", "{q}"), q=quantity,
                           u2=self.unit_text(rng, u2, lang))
        arguments = {"value": int(value) if float(value).is_integer() else value, "from_unit": u1, "to_unit": u2}
        return message, arguments

    def gen_convert(self, rng: random.Random, split: str, lang: str) -> Case:
        message, arguments = self.convert_request(rng, split, lang)
        return Case(message, "convert_units", arguments, lang=lang)

    # --- search, training, adapters, time, inpainting -----------------------------------------------------------------
    def doc_request(self, rng: random.Random, split: str, lang: str) -> tuple[str, str]:
        """A question about the user's own uploaded document: (message, query = what is asked about)."""
        kind = rng.choice(["ask", "ask", "about", "summary"])
        en = lang == "en"
        doc = rng.choice(DOC_KINDS_EN if en else DOC_KINDS_ZH)
        when = rng.choice(DOC_WHEN_EN if en else DOC_WHEN_ZH)
        if kind == "summary":
            template = self.t(rng, split, f"doc_summary_{lang}", DOC_SUMMARY_EN if en else DOC_SUMMARY_ZH)
            query = doc
            message = fill(template, doc=doc, when=when)
        elif kind == "ask":
            template = self.t(rng, split, f"doc_ask_{lang}", DOC_ASK_EN if en else DOC_ASK_ZH)
            question, query = rng.choice(DOC_QUESTIONS_EN if en else DOC_QUESTIONS_ZH)
            message = fill(template, doc=doc, when=when, q=question)
        else:
            template = self.t(rng, split, f"doc_about_{lang}", DOC_ABOUT_EN if en else DOC_ABOUT_ZH)
            _, query = rng.choice(DOC_QUESTIONS_EN if en else DOC_QUESTIONS_ZH)
            if not en and "{t}" in template and rng.random() < 0.4:
                query = rng.choice(SEARCH_TOPICS_ZH)
            message = fill(template, doc=doc, when=when, t=query)
        message = message.replace("  ", " ").replace(" ,", ",")
        return (en_noise(rng, message) if en else zh_noise(rng, message)), query

    def search_request(self, rng: random.Random, split: str, lang: str) -> tuple[str, str]:
        if rng.random() < 0.3:
            return self.doc_request(rng, split, lang)
        if rng.random() < 0.2:
            if lang == "en":
                template = self.t(rng, split, "howto_en", APP_HOWTO_EN)
                task = rng.choice(APP_TASKS_EN)
                return fill(en_noise(rng, template), task=task), task
            task = rng.choice(APP_TASKS_ZH)
            return fill(zh_noise(rng, self.t(rng, split, "howto_zh", APP_HOWTO_ZH)), task=task), task
        if lang == "en":
            topic = rng.choice(SEARCH_TOPICS_EN)
            return fill(en_noise(rng, self.t(rng, split, "search_en", SEARCH_EN)), t=topic), topic
        topic = rng.choice(SEARCH_TOPICS_ZH)
        return fill(zh_noise(rng, self.t(rng, split, "search_zh", SEARCH_ZH)), t=topic), topic

    def gen_search(self, rng: random.Random, split: str, lang: str) -> Case:
        message, query = self.search_request(rng, split, lang)
        arguments = {"query": query}
        if rng.random() < 0.06:
            k = rng.randint(2, 8)
            message = append_before_punctuation(message, f" (top {k} passages)" if lang == "en" else f"，给我{k}条结果")
            arguments["k"] = k
        return Case(message, "search_knowledge", arguments, lang=lang)

    def train_request(self, rng: random.Random, split: str, lang: str, model: str | None = None) -> tuple[str, dict]:
        model = model or rng.choice(["vae", "gan", "ssl", "diffusion"])
        dataset = rng.choice(["digits", "shapes", None, None])
        epochs = rng.choice([5, 10, 15, 20, 25, 30, 40, 50, 60, 80, 100, 150, 200]) if rng.random() < 0.45 else None
        if lang == "en":
            template = self.t(rng, split, "train_en", TRAIN_EN)
            on = rng.choice(TRAIN_ON_EN[dataset]) if dataset else ""
            for_ = fill(rng.choice(TRAIN_FOR_EN), e=epochs) if epochs else ""
            message = fill(en_noise(rng, template), m=rng.choice(TRAIN_MODEL_EN[model]), on=on, **{"for": for_})
        else:
            template = self.t(rng, split, "train_zh", TRAIN_ZH)
            on = rng.choice(TRAIN_ON_ZH[dataset]) if dataset else ""
            for_ = fill(rng.choice(TRAIN_FOR_ZH), e=epochs) if epochs else ""
            message = fill(zh_noise(rng, template), m=rng.choice(TRAIN_MODEL_ZH[model]), on=on, **{"for": for_})
        arguments: dict = {"model": model}
        if dataset:
            arguments["dataset"] = dataset
        if epochs:
            arguments["epochs"] = epochs
        return message, arguments

    def gen_train(self, rng: random.Random, split: str, lang: str) -> Case:
        message, arguments = self.train_request(rng, split, lang)
        return Case(message, "train_image_model", arguments, lang=lang)

    def switch_request(self, rng: random.Random, split: str, lang: str, name: str | None = None) -> tuple[str, str]:
        name = name or rng.choice(["concise", "concise", "zh-tutor", "zh-tutor", "base"])
        if lang == "en":
            if name == "base":
                message = en_noise(rng, self.t(rng, split, "switch_base_en", SWITCH_BASE_EN))
            else:
                template = self.t(rng, split, "switch_en", SWITCH_EN)
                message = fill(en_noise(rng, template), a=rng.choice(SWITCH_NAMES_EN[name]))
            if rng.random() < 0.2:  # a reason after the request ("your answers are too long") is still a switch
                joint = rng.choice(["? ", ", ", ". ", " - "])
                message = f"{message.rstrip('.!')}{joint}{rng.choice(SWITCH_REASONS_EN[name])}"
            return message, name
        if name == "base":
            message = zh_noise(rng, self.t(rng, split, "switch_base_zh", SWITCH_BASE_ZH))
        else:
            template = zh_noise(rng, self.t(rng, split, "switch_zh", SWITCH_ZH))
            message = fill(template, a=rng.choice(SWITCH_NAMES_ZH[name]))
        if rng.random() < 0.2:
            message = f"{message.rstrip('。！')}，{rng.choice(SWITCH_REASONS_ZH[name])}"
        return message, name

    def gen_switch(self, rng: random.Random, split: str, lang: str) -> Case:
        message, name = self.switch_request(rng, split, lang)
        return Case(message, "switch_adapter", {"name": name}, lang=lang)

    def gen_list(self, rng: random.Random, split: str, lang: str) -> Case:
        message = (en_noise(rng, self.t(rng, split, "list_en", LIST_EN)) if lang == "en"
                   else zh_noise(rng, self.t(rng, split, "list_zh", LIST_ZH)))
        return Case(message, "list_adapters", {}, lang=lang)

    def gen_datetime(self, rng: random.Random, split: str, lang: str) -> Case:
        message = (en_noise(rng, self.t(rng, split, "datetime_en", DATETIME_EN)) if lang == "en"
                   else zh_noise(rng, self.t(rng, split, "datetime_zh", DATETIME_ZH)))
        return Case(message, "current_datetime", {}, lang=lang)

    def gen_inpaint(self, rng: random.Random, split: str, lang: str) -> Case:
        pool = INPAINT_EN if lang == "en" else INPAINT_ZH
        template = self.t(rng, split, f"inpaint_{lang}", pool)
        arguments: dict = {}
        slots: dict = {}
        if "{model}" in template or "{data}" in template:
            model = rng.choice(["ssl-digits", "ssl-shapes"])
            arguments["model"] = model
            slots["model"] = model
            data = model.split("-")[1]
            slots["data"] = ({"digits": "digits", "shapes": "shapes"} if lang == "en"
                             else {"digits": "数字", "shapes": "形状"})[data]
        if "{p}" in template or "{r}" in template:
            ratio = rng.choice([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.75])
            slots["p"] = int(round(ratio * 100))
            slots["r"] = num_text(ratio)
            arguments["mask_ratio"] = ratio
        text = en_noise(rng, template) if lang == "en" else zh_noise(rng, template)
        return Case(fill(text, **slots), "inpaint_image", arguments, lang=lang)

    # --- no tool --------------------------------------------------------------------------------------------------
    def none_from(self, rng: random.Random, split: str, lang: str, name: str, en: list[str], zh: list[str]) -> Case:
        template = self.t(rng, split, f"{name}_{lang}", en if lang == "en" else zh)
        text = en_noise(rng, template) if lang == "en" else zh_noise(rng, template)
        return Case(self.fill_slots(rng, text), lang=lang)

    def gen_none_trigger(self, rng, split, lang):  # noqa: ANN001, ANN201
        return self.none_from(rng, split, lang, "none_trigger", NONE_TRIGGER_EN, NONE_TRIGGER_ZH)

    def gen_none_topic(self, rng, split, lang):  # noqa: ANN001, ANN201
        return self.none_from(rng, split, lang, "none_topic", NONE_TOPIC_EN, NONE_TOPIC_ZH)

    def gen_none_general(self, rng, split, lang):  # noqa: ANN001, ANN201
        return self.none_from(rng, split, lang, "none_general", NONE_GENERAL_EN, NONE_GENERAL_ZH)

    def gen_none_coding(self, rng, split, lang):  # noqa: ANN001, ANN201
        return self.none_from(rng, split, lang, "none_coding", NONE_CODING_EN, NONE_CODING_ZH)

    def gen_none_writing(self, rng, split, lang):  # noqa: ANN001, ANN201
        return self.none_from(rng, split, lang, "none_writing", NONE_WRITING_EN, NONE_WRITING_ZH)

    def gen_none_translate(self, rng, split, lang):  # noqa: ANN001, ANN201
        return self.none_from(rng, split, lang, "none_translate", NONE_TRANSLATE_EN, NONE_TRANSLATE_ZH)

    def gen_none_greeting(self, rng, split, lang):  # noqa: ANN001, ANN201
        return self.none_from(rng, split, lang, "none_greeting", NONE_GREETING_EN, NONE_GREETING_ZH)

    def gen_none_undrawable(self, rng, split, lang):  # noqa: ANN001, ANN201
        """A picture of something the image models cannot draw (they know digits and four shapes): no tool."""
        return self.none_from(rng, split, lang, "none_undrawable", NONE_UNDRAWABLE_EN, NONE_UNDRAWABLE_ZH)

    def gen_none_numbers(self, rng, split, lang):  # noqa: ANN001, ANN201
        """Numbers, times and prices in a message that asks for no arithmetic, conversion or lookup."""
        return self.none_from(rng, split, lang, "none_numbers", NONE_NUMBERS_EN, NONE_NUMBERS_ZH)

    def gen_none_no_tool_facts(self, rng, split, lang):  # noqa: ANN001, ANN201
        """Currencies, time zones, past dates: they look like conversions and clock questions; no tool answers them."""
        return self.none_from(rng, split, lang, "none_no_tool_facts", NONE_NO_TOOL_FACTS_EN, NONE_NO_TOOL_FACTS_ZH)

    # --- a client's tools (the /v1 API) ----------------------------------------------------------------------------
    def client_case(self, rng: random.Random, split: str, lang: str, kind: str) -> Case:
        app_message = ""
        if kind == "general":  # the app's own requests and plain chat, with only a client's tools listed
            make = rng.choice([self.gen_draw, self.gen_calc, self.gen_none_general, self.gen_none_trigger,
                               self.gen_none_coding, self.gen_datetime])
            app_message = make(rng, split, lang).message
        c = self.client.make(rng, split, lang, kind, app_message)
        return Case(c.message, c.tool or NO_TOOL, c.arguments, c.history, lang=c.lang, kind="client",
                    client_tools=c.tools)

    def gen_client_call(self, rng, split, lang):  # noqa: ANN001, ANN201
        return self.client_case(rng, split, lang, "call")

    def gen_client_near(self, rng, split, lang):  # noqa: ANN001, ANN201
        return self.client_case(rng, split, lang, "near")

    def gen_client_unlisted(self, rng, split, lang):  # noqa: ANN001, ANN201
        return self.client_case(rng, split, lang, "unlisted")

    def gen_client_general(self, rng, split, lang):  # noqa: ANN001, ANN201
        return self.client_case(rng, split, lang, "general")

    def gen_client_followup(self, rng, split, lang):  # noqa: ANN001, ANN201
        return self.client_case(rng, split, lang, "followup")

    # --- follow-ups -------------------------------------------------------------------------------------------------
    @staticmethod
    def draw_summary(arguments: dict, s: dict) -> str:
        """The tool's own result text (what the chat shows after a drawing)."""
        dataset = "digits" if s["kind"] == "digit" else "shapes"
        model = arguments.get("model", "auto")
        model = model if "-" in model else f"{model if model in ('vae', 'gan') else 'gan'}-{dataset}"
        if s["kind"] == "digit":
            condition = f"digit={s['d']}"
        else:
            condition = ", ".join(f"{k}={s[k]}" for k in ("shape", "colour", "size") if s.get(k))
        return f"{arguments.get('n', 4)} image(s) from {model} for {condition}"

    def draw_reply(self, rng: random.Random, arguments: dict, s: dict, lang: str) -> str:
        n = arguments.get("n", 4)
        if s["kind"] == "digit":
            words_en, words_zh = f"the digit {s['d']}", f"数字{s['d']}"
        else:
            words_en = " ".join(w for w in (s.get("size"), s.get("colour"), s["shape"]) if w) + ("s" if n > 1 else "")
            words_zh = self.shape_phrase({**s, "size_w": None}, "zh")
        if rng.random() < 0.55:
            return self.draw_summary(arguments, s)
        if lang == "en":
            return rng.choice([f"Here are {n} images of {words_en}.", f"Done: {n} × {words_en}.",
                               f"Here you go — {n} pictures of {words_en}."])
        return rng.choice([f"这是{n}张{words_zh}的图片。", f"画好了：{n}张{words_zh}。"])

    def gen_draw_fu(self, rng: random.Random, split: str, lang: str) -> Case:
        first, arguments, s = self.draw_request(rng, "train" if rng.random() < 0.5 else split, lang)
        history = _turn(first, self.draw_reply(rng, arguments, s, lang))
        prev_n = arguments.get("n")
        kind = rng.choice(["again", "one", "more", "more", "change"])
        new = {k: v for k, v in arguments.items() if k in ("prompt", "n", "model")}
        if kind == "again":
            message = self.t(rng, split, f"draw_again_{lang}", DRAW_AGAIN_EN if lang == "en" else DRAW_AGAIN_ZH)
        elif kind == "one":
            message = self.t(rng, split, f"draw_one_{lang}", DRAW_ONE_EN if lang == "en" else DRAW_ONE_ZH)
            new["n"] = 1
        elif kind == "more":
            k = rng.randint(2, 8)
            template = self.t(rng, split, f"draw_more_{lang}", DRAW_MORE_EN if lang == "en" else DRAW_MORE_ZH)
            message = fill(template, k=k, kw=EN_COUNT[k], kz=ZH_COUNT[k])
            new["n"] = k
        elif s["kind"] == "digit":
            d = rng.choice([x for x in range(10) if x != s["d"]])
            pool = DRAW_CHANGE_DIGIT_EN if lang == "en" else DRAW_CHANGE_DIGIT_ZH
            message = fill(self.t(rng, split, f"draw_change_digit_{lang}", pool), d=d, dw=EN_DIGIT[d])
            new["prompt"] = self.draw_prompt({"kind": "digit", "d": d}, lang)
        else:
            colour = rng.choice([c for c in COLOURS if c != s.get("colour")])
            pool = DRAW_CHANGE_COLOUR_EN if lang == "en" else DRAW_CHANGE_COLOUR_ZH
            message = fill(self.t(rng, split, f"draw_change_colour_{lang}", pool), c=colour, cz=COLOUR_ZH[colour])
            plural = arguments["prompt"].endswith("s") and lang == "en"
            new["prompt"] = self.draw_prompt({**s, "colour": colour}, lang, plural)
        if kind in ("again", "change") and prev_n is None:
            new.pop("n", None)
        message = en_noise(rng, message) if lang == "en" else zh_noise(rng, message)
        order = ["prompt", "n", "model"]
        return Case(message, "generate_images", {k: new[k] for k in order if k in new}, history, lang=lang,
                    kind="followup")

    def calc_reply(self, rng: random.Random, shown: str, result: float, lang: str) -> str:
        r = num_text(result)
        if lang == "en":
            return rng.choice([f"{shown} = {r}", f"The answer is {r}.", f"That comes to {r}.", f"{r}", f"It's {r}."])
        return rng.choice([f"结果是{r}。", f"{shown} = {r}", f"等于{r}。", f"{r}"])

    def gen_calc_fu(self, rng: random.Random, split: str, lang: str) -> Case:
        while True:
            shown, expr = self.calc_expression(rng, lang, integer=True)
            result = evaluate(expr)
            if isinstance(result, int) and 1 < result < 10**6:
                break
        sub = "train" if rng.random() < 0.5 else split
        template = self.t(rng, sub, f"calc_{lang}", CALC_EN if lang == "en" else CALC_ZH)
        first = fill(template, e=shown)
        history = _turn(first, self.calc_reply(rng, shown, result, lang))
        if rng.random() < 0.8:
            template, target = self.t(rng, split, f"calc_fu_{lang}", CALC_FU_EN if lang == "en" else CALC_FU_ZH)
            k = rng.randint(2, 25)
            message, expr = fill(template, k=k), fill(target, r=result, k=k)
        else:
            new_shown, expr = self.calc_expression(rng, lang)
            template = self.t(rng, split, f"calc_new_{lang}", CALC_NEW_EN if lang == "en" else CALC_NEW_ZH)
            message = fill(template, e=new_shown)
        message = en_noise(rng, message) if lang == "en" else zh_noise(rng, message)
        return Case(message, "calculator", {"expression": expr}, history, lang=lang, kind="followup")

    def switch_reply(self, rng: random.Random, name: str, pending: bool) -> str:
        if pending:
            return (f'I can run `switch_adapter(name="{name}")` for this. It changes something, so it runs only when '
                    "you confirm.")
        return f"This conversation now uses {'the base model' if name == 'base' else name}."

    def gen_switch_ordinal(self, rng: random.Random, split: str, lang: str) -> Case:
        """After the adapters were listed, "use the second one" names an adapter by its place in that list."""
        en = lang == "en"
        order = rng.sample(ADAPTERS, len(ADAPTERS))
        first = (en_noise(rng, self.t(rng, "train", "list_en", LIST_EN)) if en
                 else zh_noise(rng, self.t(rng, "train", "list_zh", LIST_ZH)))
        about = {"concise": ("short, direct answers", "简洁回答"), "zh-tutor": ("answers in Chinese", "中文辅导")}
        if en:
            reply = "Available adapters: " + ", ".join(f'"{a}" ({about[a][0]})' for a in order) + \
                ". The conversation uses the base model now."
        else:
            listed = "和".join(f"“{a}”（{about[a][1]}）" for a in order)
            reply = f"目前装了这些适配器：{listed}。这个对话现在用的是基础模型。"
        index = rng.randrange(len(order))
        if en:
            word = ["first", "second"][index]
            message = rng.choice([f"use the {word} one", f"the {word} one please", f"switch to the {word}",
                                  f"ok, go with the {word} one", f"let's try the {word} adapter"])
        else:
            word = ["第一个", "第二个"][index]
            message = rng.choice([f"换成{word}", f"{word}吧", f"切换到{word}", f"就用{word}适配器"])
        message = en_noise(rng, message) if en else zh_noise(rng, message)
        return Case(message, "switch_adapter", {"name": order[index]}, _turn(first, reply), lang=lang,
                    kind="followup")

    def gen_switch_fu(self, rng: random.Random, split: str, lang: str) -> Case:
        mode = rng.choice(["back", "back", "back2", "other", "yes"])
        first_name = rng.choice(ADAPTERS)
        first, _ = self.switch_request(rng, "train" if rng.random() < 0.5 else split, lang, first_name)
        history = _turn(first, self.switch_reply(rng, first_name, pending=mode == "yes"))
        if mode == "yes":
            message, target = self.t(rng, split, f"yes_{lang}", YES_EN if lang == "en" else YES_ZH), first_name
        elif mode == "other":
            target = next(a for a in ADAPTERS if a != first_name)
            message = (fill(rng.choice(["actually, use {a} instead", "no wait, switch to {a}", "try {a} instead"]),
                            a=rng.choice(SWITCH_NAMES_EN[target])) if lang == "en"
                       else fill(rng.choice(["还是换成{a}吧", "改用{a}"]), a=rng.choice(SWITCH_NAMES_ZH[target])))
        else:
            target = "base"
            if mode == "back2":  # two switches: "back" means the first adapter
                second = next(a for a in ADAPTERS if a != first_name)
                again, _ = self.switch_request(rng, split, lang, second)
                history += _turn(again, self.switch_reply(rng, second, pending=False))
                target = first_name
            message = self.t(rng, split, f"switch_back_{lang}", SWITCH_BACK_EN if lang == "en" else SWITCH_BACK_ZH)
        message = en_noise(rng, message) if lang == "en" else zh_noise(rng, message)
        return Case(message, "switch_adapter", {"name": target}, history, lang=lang, kind="followup")

    def gen_search_fu(self, rng: random.Random, split: str, lang: str) -> Case:
        explain = EXPLAIN_EN if lang == "en" else EXPLAIN_ZH
        if rng.random() < 0.3:  # a question about an uploaded document, then another point of the same document
            en = lang == "en"
            doc = rng.choice(DOC_KINDS_EN if en else DOC_KINDS_ZH)
            (q1, t1), (_, t2) = rng.sample(DOC_QUESTIONS_EN if en else DOC_QUESTIONS_ZH, 2)
            first = fill(rng.choice(DOC_ASK_EN if en else DOC_ASK_ZH), doc=doc, q=q1,
                         when=rng.choice(DOC_WHEN_EN if en else DOC_WHEN_ZH))
            reply = (f"According to your {doc} [1], here is what it says about {t1}: see section {rng.randint(2, 9)}."
                     if en else f"根据你的{doc}[1]，关于{t1}的内容在第{rng.randint(2, 9)}节。")
            template = self.t(rng, split, f"doc_topic_fu_{lang}", DOC_TOPIC_FU_EN if en else DOC_TOPIC_FU_ZH)
            message = fill(template, t=t2)
            message = en_noise(rng, message) if en else zh_noise(rng, message)
            return Case(message, "search_knowledge", {"query": t2}, _turn(first, reply), lang=lang, kind="followup")
        if rng.random() < 0.55:
            topic = rng.choice(list(explain))
            question = (rng.choice(["what is {t}?", "explain {t}", "what's {t} about?"]) if lang == "en"
                        else rng.choice(["{t}是什么？", "解释一下{t}"]))
            history = _turn(fill(question, t=topic), explain[topic])
            message = self.t(rng, split, f"search_that_{lang}", SEARCH_THAT_EN if lang == "en" else SEARCH_THAT_ZH)
            query = topic
        else:
            first, first_query = self.search_request(rng, "train" if rng.random() < 0.5 else split, lang)
            reply = (f"According to your notes, {first_query} is covered in [1]." if lang == "en"
                     else f"根据你的笔记，关于{first_query}的内容见[1]。")
            history = _turn(first, reply)
            topics = SEARCH_TOPICS_EN if lang == "en" else SEARCH_TOPICS_ZH
            query = rng.choice([t for t in topics if t != first_query])
            template = self.t(rng, split, f"search_also_{lang}", SEARCH_ALSO_EN if lang == "en" else SEARCH_ALSO_ZH)
            message = fill(template, t=query)
        message = en_noise(rng, message) if lang == "en" else zh_noise(rng, message)
        return Case(message, "search_knowledge", {"query": query}, history, lang=lang, kind="followup")

    def gen_convert_fu(self, rng: random.Random, split: str, lang: str) -> Case:
        first, arguments = self.convert_request(rng, "train" if rng.random() < 0.5 else split, lang)
        result = self.convert(arguments)
        reply = result if rng.random() < 0.5 else (f"That's {result.split(' = ')[1]}." if lang == "en"
                                                     else f"约等于{result.split(' = ')[1]}。")
        history = _turn(first, reply)
        u1, u2 = arguments["from_unit"], arguments["to_unit"]
        dim = next(units for units in self.DIMENSIONS.values() if u1 in units)
        others = [u for u in dim if u not in (u1, u2)]
        new = dict(arguments)
        if others and rng.random() < 0.6:
            u3 = rng.choice(others)
            template = self.t(rng, split, f"convert_to_{lang}", CONVERT_TO_EN if lang == "en" else CONVERT_TO_ZH)
            message = fill(template, u=self.unit_text(rng, u3, lang))
            new["to_unit"] = u3
        else:
            value = self.unit_value(rng, u1)
            while value == arguments["value"]:
                value = self.unit_value(rng, u1)
            pool = CONVERT_VALUE_EN if lang == "en" else CONVERT_VALUE_ZH
            template = self.t(rng, split, f"convert_value_{lang}", pool)
            message = fill(template, v=self.quantity(rng, value, u1, lang) if rng.random() < 0.6 else num_text(value))
            new["value"] = int(value) if float(value).is_integer() else value
        message = en_noise(rng, message) if lang == "en" else zh_noise(rng, message)
        return Case(message, "convert_units", new, history, lang=lang, kind="followup")

    @staticmethod
    def started_training(rng: random.Random, arguments: dict) -> str:
        """The chat's reply once a training job has started (the tool's defaults where an argument is missing)."""
        return (f"Started training {arguments['model']} on {arguments.get('dataset', 'digits')} for "
                f"{arguments.get('epochs', 20)} epochs (job {rng.randrange(16**6):06x}); follow it in the Images tab.")

    def gen_train_fu(self, rng: random.Random, split: str, lang: str) -> Case:
        first, arguments = self.train_request(rng, "train" if rng.random() < 0.5 else split, lang)
        pending = rng.random() < 0.5
        if pending:
            shown = ", ".join(f"{k}={json.dumps(v)}" for k, v in arguments.items())
            reply = (f"I can run `train_image_model({shown})` for this. It changes something, so it runs only when "
                     "you confirm.")
        else:
            reply = self.started_training(rng, arguments)
        history = _turn(first, reply)
        mode = rng.choice(["model", "data", "epochs"] + ["yes"] * pending)
        new = dict(arguments)
        if mode == "yes":
            message = self.t(rng, split, f"yes_{lang}", YES_EN if lang == "en" else YES_ZH)
        elif mode == "model":
            model = rng.choice([m for m in ("vae", "gan", "ssl", "diffusion") if m != arguments["model"]])
            pool = TRAIN_OTHER_MODEL_EN if lang == "en" else TRAIN_OTHER_MODEL_ZH
            names = TRAIN_MODEL_EN if lang == "en" else TRAIN_MODEL_ZH
            message = fill(self.t(rng, split, f"train_model_{lang}", pool), m=names[model][0])
            new["model"] = model
        elif mode == "data":
            dataset = "shapes" if arguments.get("dataset", "digits") == "digits" else "digits"
            pool = TRAIN_OTHER_DATA_EN if lang == "en" else TRAIN_OTHER_DATA_ZH
            shown = dataset if lang == "en" else {"digits": "数字", "shapes": "形状"}[dataset]
            message = fill(self.t(rng, split, f"train_data_{lang}", pool), d=shown)
            new["dataset"] = dataset
        else:
            epochs = rng.choice([e for e in (10, 30, 50, 100) if e != arguments.get("epochs")])
            pool = TRAIN_EPOCHS_EN if lang == "en" else TRAIN_EPOCHS_ZH
            message = fill(self.t(rng, split, f"train_epochs_{lang}", pool), e=epochs)
            new["epochs"] = epochs
        message = en_noise(rng, message) if lang == "en" else zh_noise(rng, message)
        order = ["model", "dataset", "epochs"]
        return Case(message, "train_image_model", {k: new[k] for k in order if k in new}, history, lang=lang,
                    kind="followup")

    def gen_fact_calc_fu(self, rng: random.Random, split: str, lang: str) -> Case:
        """A number the assistant stated, then a rate and a duration: one expression with every factor."""
        en = lang == "en"
        if en:
            question, answer, (low, high), verb, unit = rng.choice(FACTS_EN)
            classifier = ""
        else:
            question, answer, (low, high), verb, unit, classifier = rng.choice(FACTS_ZH)
        n = rng.randint(low, high)
        values = {"n": n, "a": rng.randint(2, 6), "w": rng.randint(2, 6), "k": rng.randint(3, 30),
                  "m": rng.randint(2, 12)}
        template, expr = self.t(rng, split, f"fact_rate_{lang}", FACT_RATE_EN if en else FACT_RATE_ZH)
        message = fill(template, verb=verb, unit=unit, cl=classifier, **values)
        message = en_noise(rng, message) if en else zh_noise(rng, message)
        history = _turn(question, fill(answer, n=n))
        return Case(message, "calculator", {"expression": fill(expr, **values)}, history, lang=lang, kind="followup")

    def gen_none_fu(self, rng: random.Random, split: str, lang: str) -> Case:
        en = lang == "en"
        if rng.random() < 0.15:  # the assistant declined and offered something else: "no thanks" calls nothing
            history = _turn(*rng.choice(OFFERS_EN if en else OFFERS_ZH))
            message = self.t(rng, split, f"decline_{lang}", DECLINE_EN if en else DECLINE_ZH)
            message = en_noise(rng, message) if en else zh_noise(rng, message)
            return Case(message, history=history, lang=lang, kind="followup")
        before = rng.choice(["draw", "calc", "text", "text", "explain", "convert", "search"])
        sub = "train" if rng.random() < 0.5 else split
        if before == "draw":
            first, arguments, s = self.draw_request(rng, sub, lang)
            history = _turn(first, self.draw_reply(rng, arguments, s, lang))
            pool = (NONE_FU_AFTER_DRAW_EN + NONE_FU_EN[:6]) if en else (NONE_FU_AFTER_DRAW_ZH + NONE_FU_ZH[:4])
        elif before == "calc":
            first, expr = self.calc_request(rng, sub, lang)
            history = _turn(first, self.calc_reply(rng, expr, evaluate(expr), lang))
            pool = (NONE_FU_AFTER_CALC_EN + NONE_FU_EN[:6]) if en else (NONE_FU_AFTER_CALC_ZH + NONE_FU_ZH[:4])
        elif before == "convert":
            first, arguments = self.convert_request(rng, sub, lang)
            history = _turn(first, self.convert(arguments))
            pool = NONE_FU_EN if en else NONE_FU_ZH
        elif before == "search":
            first, query = self.search_request(rng, sub, lang)
            history = _turn(first, f"Your notes say {query} is explained in [1] and [2]." if en
                            else f"你的笔记在[1]和[2]里讲到了{query}。")
            pool = NONE_FU_EN if en else NONE_FU_ZH
        elif before == "explain":
            explain = EXPLAIN_EN if en else EXPLAIN_ZH
            topic = rng.choice(list(explain))
            history = _turn(fill("what is {t}?" if en else "{t}是什么？", t=topic), explain[topic])
            pool = (NONE_FU_AFTER_TEXT_EN + NONE_FU_EN) if en else (NONE_FU_AFTER_TEXT_ZH + NONE_FU_ZH)
            if rng.random() < 0.4:  # "and a GAN?": another explanation, still no tool
                other = rng.choice([t for t in explain if t != topic])
                message = rng.choice([f"and {other}?", f"how does {other} compare?"] if en
                                     else [f"那{other}呢？", f"{other}和它有什么区别？"])
                return Case(message, history=history, lang=lang, kind="followup")
        else:
            chat = rng.choice(CHAT_EN if en else CHAT_ZH)
            history = _turn(*chat)
            pool = (NONE_FU_AFTER_TEXT_EN + NONE_FU_EN) if en else (NONE_FU_AFTER_TEXT_ZH + NONE_FU_ZH)
        message = self.t(rng, split, f"none_fu_{before}_{lang}_{len(pool)}", pool)
        message = en_noise(rng, message) if en else zh_noise(rng, message)
        return Case(message, history=history, lang=lang, kind="followup")

    def context_history(self, rng: random.Random, lang: str) -> list[dict]:
        turns = rng.choice([1, 1, 2])
        chats = rng.sample(CHAT_EN if lang == "en" else CHAT_ZH, turns)
        return [m for chat in chats for m in _turn(*chat)]

    def gen_context_tool(self, rng: random.Random, split: str, lang: str) -> Case:
        gen = rng.choice([self.gen_draw, self.gen_calc, self.gen_convert, self.gen_search, self.gen_datetime,
                          self.gen_switch, self.gen_train])
        case = gen(rng, split, lang)
        case.history, case.kind = self.context_history(rng, lang), "context"
        return case

    def gen_context_none(self, rng: random.Random, split: str, lang: str) -> Case:
        if rng.random() < 0.5:  # an earlier tool call does not make the next question a tool call
            message, arguments, s = self.draw_request(rng, "train", lang)
            history = _turn(message, self.draw_reply(rng, arguments, s, lang))
        else:
            history = self.context_history(rng, lang)
        gen = rng.choice([self.gen_none_trigger, self.gen_none_trigger, self.gen_none_general, self.gen_none_topic,
                          self.gen_none_coding])
        case = gen(rng, split, lang)
        case.history, case.kind = history, "context"
        return case

    # --- after a tool result -----------------------------------------------------------------------------------------
    @staticmethod
    def datetime_text(rng: random.Random) -> str:
        zone = rng.choice(["CET", "CEST", "UTC", "EST", "CST", "JST"])
        return (f"{rng.choice(WEEKDAYS)} {rng.randint(1, 28):02d} {rng.choice(MONTHS)} {rng.choice([2024, 2025])}, "
                f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d} {zone}")

    def gen_multi_next(self, rng: random.Random, split: str, lang: str) -> Case:
        en = lang == "en"
        kind = rng.choice(["calc_convert", "convert_calc", "time_draw", "doc_calc", "calc_calc", "search_search",
                           "list_switch"])
        if kind == "calc_convert":
            a, b = rng.randint(2, 30), rng.randint(2, 30)
            u1, u2 = rng.choice([("km", "mi"), ("kg", "lb"), ("m", "ft"), ("mi", "km")])
            message = (f"Multiply {a} by {b}, then convert that many {self.unit_text(rng, u1, 'en', 2)} to "
                       f"{self.unit_text(rng, u2, 'en', 2)}." if en
                       else f"{a}乘以{b}，然后把结果从{self.unit_text(rng, u1, 'zh')}换算成"
                            f"{self.unit_text(rng, u2, 'zh')}")
            call, text = {"name": "calculator", "arguments": {"expression": f"{a}*{b}"}}, f"{a}*{b} = {a * b}"
            target = ("convert_units", {"value": a * b, "from_unit": u1, "to_unit": u2})
        elif kind == "convert_calc":
            value, k = rng.randint(2, 50), rng.randint(2, 20)
            arguments = {"value": value, "from_unit": "mi", "to_unit": "km"}
            text = self.convert(arguments)
            km = text.split(" = ")[1].split()[0]
            message = f"convert {value} miles to km and add {k} km" if en else f"把{value}英里换算成公里，再加上{k}公里"
            call = {"name": "convert_units", "arguments": arguments}
            target = ("calculator", {"expression": f"{km}+{k}"})
        elif kind == "time_draw":
            d = rng.randrange(10)
            message = f"tell me the time and then draw a {d}" if en else f"告诉我现在几点，然后画一个数字{d}"
            call, text = {"name": "current_datetime", "arguments": {}}, self.datetime_text(rng)
            target = ("generate_images", {"prompt": f"digit {d}" if en else f"数字{d}"})
        elif kind == "doc_calc":
            what, source, snippet, n = rng.choice(MULTI_DOC_EN if en else MULTI_DOC_ZH)
            op_text, op_expr = rng.choice(MULTI_DOC_OPS_EN if en else MULTI_DOC_OPS_ZH)
            k = rng.randint(2, 12)
            message = (f"Look up {what} in my documents {fill(op_text, k=k)}." if en
                       else f"在我的文档里查一下{what}{fill(op_text, k=k)}")
            call = {"name": "search_knowledge", "arguments": {"query": what}}
            text = f"[1] {source}: {snippet}"
            target = ("calculator", {"expression": fill(op_expr, n=n, k=k)})
        elif kind == "calc_calc":
            first_shown, first = self.calc_expression(rng, lang, integer=True)
            second_shown, second = self.calc_expression(rng, lang)
            message = (f"compute {first_shown} and also {second_shown}" if en
                       else f"算一下{first_shown}，还有{second_shown}")
            call, text = {"name": "calculator", "arguments": {"expression": first}}, f"{first} = {evaluate(first)}"
            target = ("calculator", {"expression": second})
        elif kind == "search_search":
            topics = SEARCH_TOPICS_EN if en else SEARCH_TOPICS_ZH
            t1, t2 = rng.sample(topics[:30], 2)
            message = (f"search my notes for {t1} and for {t2}" if en else f"在笔记里搜一下{t1}和{t2}")
            call = {"name": "search_knowledge", "arguments": {"query": t1}}
            text = f"[1] knowledge/notes.md ({t1}): A short section about {t1}."
            target = ("search_knowledge", {"query": t2})
        else:
            name = rng.choice(ADAPTERS)
            message = (f"list the adapters and switch to {name}" if en else f"列出适配器，然后切换到{name}")
            call = {"name": "list_adapters", "arguments": {}}
            text = ("Adapters:\n- concise: Short, direct answers.\n- zh-tutor: Answers in Chinese, step by step.\n"
                    "- base: the bare base model")
            target = ("switch_adapter", {"name": name})
        return Case(message, target[0], target[1], steps=[(call, text)], lang=lang, kind="multistep")

    def gen_multi_done(self, rng: random.Random, split: str, lang: str) -> Case:
        kind = rng.choice(["calc", "calc", "convert", "draw", "search", "time", "error"])
        if kind == "calc":
            case = self.gen_calc(rng, split, lang)
            expr = case.arguments["expression"]
            text = f"{expr} = {evaluate(expr)}"
        elif kind == "convert":
            case = self.gen_convert(rng, split, lang)
            text = self.convert(case.arguments)
        elif kind == "draw":
            message, arguments, s = self.draw_request(rng, split, lang)
            case = Case(message, "generate_images", arguments, lang=lang)
            text = self.draw_summary(arguments, s)
        elif kind == "search":
            case = self.gen_search(rng, split, lang)
            query = case.arguments["query"]
            if query in KNOWLEDGE_SNIPPETS:
                source, section, snippet = KNOWLEDGE_SNIPPETS[query]
                text = f"[1] {source} ({section}): {snippet}"
            elif rng.random() < 0.75:
                text = f"[1] uploads/notes.md (section {rng.randint(1, 9)}): Notes on {query}, see below."
            else:
                text = "No matching passages in the knowledge base."
        elif kind == "time":
            case = self.gen_datetime(rng, split, lang)
            text = self.datetime_text(rng)
        else:
            case = self.gen_draw(rng, split, lang)
            model = "gan-digits" if case.arguments["prompt"].startswith(("digit", "数字")) else "gan-shapes"
            text = rng.choice([f"⚠️ generate_images failed: FileNotFoundError: no checkpoint named {model!r}",
                               "⚠️ generate_images did not finish within 60 s and was abandoned"])
        return Case(case.message, steps=[({"name": case.tool, "arguments": case.arguments}, text)], lang=lang,
                    kind="multistep")


def normalize(message: str) -> str:
    """A message without case, spaces and punctuation: eval never repeats a training message in this form."""
    return re.sub(r"[\W_]+", "", message.lower())


def _allocate(total: int, weights: dict[str, float]) -> dict[str, int]:
    """Largest-remainder split of `total` by weight."""
    norm = sum(weights.values())
    raw = {k: total * w / norm for k, w in weights.items()}
    counts = {k: int(v) for k, v in raw.items()}
    for k in sorted(raw, key=lambda k: raw[k] - counts[k], reverse=True)[: total - sum(counts.values())]:
        counts[k] += 1
    return counts


def generate(convert: Callable[[dict], str], seed: int = SEED, train_size: int = TRAIN_SIZE,
             eval_size: int = EVAL_SIZE) -> dict[str, list[Case]]:
    """Train and eval cases (shuffled), no message in both."""
    gen = Generator(convert, seed)
    out: dict[str, list[Case]] = {}
    seen: set[str] = set()
    train_messages: set[str] = set()
    for split, size in (("train", train_size), ("eval", eval_size)):
        rng = random.Random(f"{seed}:{split}")
        cases: list[Case] = []
        for category, count in _allocate(size, QUOTAS).items():
            make = getattr(gen, f"gen_{category}")
            made, tries = 0, 0
            while made < count:
                tries += 1
                if tries > 60 * count + 100:
                    raise RuntimeError(f"{split}/{category}: only {made} distinct cases of {count}")
                lang = "en" if rng.random() < ENGLISH_SHARE else "zh"
                case = make(rng, split, lang)
                if case.kind == "followup" and rng.random() < 0.3:  # older, unrelated turns before: 2-3 in all
                    room = 3 - len(case.history) // 2
                    case.history = gen.context_history(rng, lang)[: 2 * room] + case.history
                key = case.key()
                if key in seen or (split == "eval" and normalize(case.message) in train_messages):
                    continue
                seen.add(key)
                case.category = category
                cases.append(case)
                made += 1
        rng.shuffle(cases)
        out[split] = cases
        if split == "train":
            train_messages = {normalize(c.message) for c in cases}
    return out


def check(cases: list[Case], registry_tools: dict, convert: Callable[[dict], str] | None = None) -> None:
    """Every call is valid for its tool; expressions, drawing prompts and conversions run."""
    from assistant.imaging.datasets import COLOURS as SHAPE_COLOURS
    from assistant.imaging.datasets import SHAPES as SHAPE_NAMES
    from assistant.imaging.datasets import SIZES as SHAPE_SIZES
    from assistant.imaging.prompting import guess_dataset, parse_composition
    from assistant.tools.parsing import validate_call

    attributes = {"digits": {"digit": [str(d) for d in range(10)]},
                  "shapes": {"shape": list(SHAPE_NAMES), "colour": list(SHAPE_COLOURS), "size": list(SHAPE_SIZES)}}
    for case in cases:
        if case.tool == NO_TOOL:
            continue
        if case.client_tools is not None:
            spec = next(t for t in case.client_tools if t["name"] == case.tool)
            missing = set(spec["parameters"]["required"]) - set(case.arguments)
            assert not missing and set(case.arguments) <= set(spec["parameters"]["properties"]), case
            continue
        validate_call(case.tool, case.arguments, registry_tools)
        if case.tool == "calculator":
            evaluate(case.arguments["expression"])
        elif case.tool == "generate_images":
            prompt = case.arguments["prompt"]
            parse_composition(prompt, attributes[guess_dataset(prompt)])  # every group parses
        elif case.tool == "convert_units" and convert is not None:
            convert(case.arguments)


def stats(cases: list[Case]) -> dict:
    none = [c for c in cases if c.tool == NO_TOOL]
    return {
        "examples": len(cases),
        "per_tool": dict(Counter(c.tool for c in cases).most_common()),
        "per_language": dict(Counter(c.lang for c in cases)),
        "per_kind": dict(Counter(c.kind for c in cases)),
        "none_share": round(len(none) / max(len(cases), 1), 3),
        "none_with_trigger_share": round(sum(has_trigger(c.message) for c in none) / max(len(none), 1), 3),
        "followups": sum(c.kind == "followup" for c in cases),
        "multistep": sum(c.kind == "multistep" for c in cases),
        "client_tools": sum(c.client_tools is not None for c in cases),
        "client_calls": sum(c.client_tools is not None and c.tool != NO_TOOL for c in cases),
    }


def write(out_dir: Path, tools: list[dict], convert: Callable[[dict], str], seed: int = SEED,
          train_size: int = TRAIN_SIZE, eval_size: int = EVAL_SIZE, registry_tools: dict | None = None) -> dict:
    """Generate, check and write `tools.train.jsonl` and `tools.eval.jsonl`; returns the stats per split."""
    splits = generate(convert, seed, train_size, eval_size)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = {}
    for split, cases in splits.items():
        if registry_tools is not None:
            check(cases, registry_tools, convert)
        path = out_dir / f"tools.{split}.jsonl"
        with path.open("w", encoding="utf-8") as f:
            for case in cases:
                f.write(json.dumps(case.example(tools), ensure_ascii=False) + "\n")
        report[split] = {"file": str(path), **stats(cases)}
    return report


def app_tools(data_dir: Path) -> tuple[list[dict], dict]:
    """The app's tool list (as the decision prompt shows it) and its registry, from a throwaway data folder."""
    from assistant.config import Settings
    from assistant.services import Services

    registry = Services(Settings(data_dir=data_dir, auto_index_knowledge=False)).tools.registry
    return registry.describe(), registry.tools


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DATA, help="folder for tools.train.jsonl and tools.eval.jsonl")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--train", type=int, default=TRAIN_SIZE, help="training examples")
    parser.add_argument("--eval", type=int, default=EVAL_SIZE, help="held-out examples")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tools, registry_tools = app_tools(Path(tmp))
        report = write(args.out, tools, lambda a: str(registry_tools["convert_units"].invoke(a)), args.seed,
                       args.train, args.eval, registry_tools)
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
