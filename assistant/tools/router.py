"""Routing help for small models: pick candidate tools from the message, and fill arguments when the model can't.

The default 0.5B model rarely emits a usable tool call on its own (MODELS.md), so the chat first asks this
router which tools fit. Rules are bilingual (English, Chinese) and look at intent words, not exact phrasings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.tools.calculator import find_expression

_NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "a couple of": 2,
    "a few": 3,
    "一": 1,
    "两": 2,
    "二": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
    "十": 10,
    "一个": 1,
    "几": 3,
}

RULES: dict[str, list[str]] = {
    "generate_images": [
        r"\b(draw|sketch|paint|render)\b",
        r"\b(generate|make|create|produce|show me|give me)\b.{0,40}"
        r"\b(images?|pictures?|samples?|digits?|circles?|squares?|triangles?|stars?|shapes?)\b",
        r"\b(picture|image)s? of\b",
        r"画|绘制|生成.{0,12}(图|数字|圆|方|三角|星)|来.{0,4}张",
    ],
    "train_image_model": [
        r"\btrain(ing)?\b.{0,40}\b(vae|gan|ssl|image model|masked|autoencoder|on (the )?(digits|shapes))\b",
        r"(训练).{0,20}(vae|gan|ssl|图像|模型|数字|形状)",
    ],
    "inpaint_image": [
        r"\binpaint",
        r"\b(fill in|reconstruct)\b.{0,30}\b(mask|missing|hidden|patch)",
        r"\bmask(ed)?\b.{0,30}\b(image|patch|fill)",
        r"\b(hide|cover|blank out|erase|black out)\b.{0,50}\b(fill|restore|reconstruct|repair)",
        r"修复|补全|遮挡|掩码",
    ],
    "list_adapters": [
        r"\b(list|which|what|show)\b.{0,30}\badapters?\b(?!.{0,20}\b(switch|use)\b)",
        r"(有哪些|列出|显示).{0,10}(适配器|adapter)",
    ],
    "switch_adapter": [
        r"\b(switch|change|swap|use|activate|turn on)\b.{0,30}\b(adapter|concise|zh-tutor|base model)\b",
        r"(切换|换成|换到|使用|启用).{0,12}(适配器|adapter|concise|zh-tutor|基础模型)",
    ],
    "calculator": [
        r"\b(calculate|compute|evaluate)\b",
        r"\d\s*([+\-*/×÷^]|\bx\b|plus|minus|times|divided by)\s*\(?\d",
        r"计算|等于多少|乘以|除以|\d\s*(加|减|乘|除)\s*\d",
        r"\bsqrt\(|\bsquare root\b|平方根",
    ],
    "current_datetime": [
        r"\bwhat (time|day|date)\b",
        r"\b(today'?s date|current (time|date)|time is it)\b",
        r"几点|什么时间|今天.{0,4}(几号|日期|星期)|现在.{0,4}时间|日期",
    ],
    "search_knowledge": [
        r"\bhow (do|can|should) i\b",
        r"\b(according to|in) (the|my) (docs|documents|notes|knowledge)",
        r"\b(documentation|knowledge base|my documents|my files|uploaded)\b",
        r"\b(what does|what is) the\b.{0,40}\b(setting|option|flag|command|env|variable|tab|default)\b",
        r"\bASSISTANT_[A-Z_]+\b",
        r"\bpython -m assistant\b",
        r"\bmake (run|test)\b",
        r"(怎么|如何|怎样).{0,20}(训练|使用|上传|切换|设置|导出|安装|运行)",
        r"文档|知识库|资料里",
    ],
    "convert_units": [
        r"\bconvert\b.{0,40}\b(to|into)\b",
        r"\b\d+(\.\d+)?\s*(km|miles?|mi|kg|lbs?|pounds?|°?[cf]|"
        r"celsius|fahrenheit|feet|ft|inch(es)?|cm)\b.{0,20}\b(in|to|into)\b",
        r"\bhow many (kilomet(er|re)s|km|miles?|kilograms?|kg|pounds?|lbs?|feet|ft|inch(es)?|cm|"
        r"centimet(er|re)s?|degrees)\b.{0,30}\d",
        r"(换算|转换|等于多少)(?=.*(公里|英里|公斤|磅|摄氏|华氏|英尺|厘米))",
    ],
}
# When two rules fire, the more specific intent wins (training beats drawing: "train a GAN to draw digits").
PRIORITY = [
    "convert_units",
    "train_image_model",
    "inpaint_image",
    "switch_adapter",
    "list_adapters",
    "generate_images",
    "calculator",
    "current_datetime",
    "search_knowledge",
]


@dataclass
class Route:
    tool: str
    score: float
    reason: str


def route(message: str, available: set[str]) -> list[Route]:
    """Candidate tools for the message, best first; empty when no tool is wanted."""
    text = message.strip()
    lower = text.lower()
    found = []
    for tool in PRIORITY:
        if tool not in available:
            continue
        for pattern in RULES.get(tool, []):
            if re.search(pattern, lower if pattern.isascii() else text, flags=re.I):
                found.append(Route(tool, 1.0 - PRIORITY.index(tool) * 0.01, f"matched /{pattern[:40]}/"))
                break
    if (
        any(r.tool == "calculator" for r in found)
        and find_expression(text) is None
        and not re.search(r"calculate|compute|计算|sqrt|平方根", lower)
    ):
        found = [r for r in found if r.tool != "calculator"]
    return found


def _count(text: str, default: int) -> int:
    match = re.search(r"\b(\d{1,3})\b(?!\s*(?:epochs?|%|个?轮))", text)
    digits_only = re.search(r"\b(?:digit|number|数字)\s*(\d)\b", text, re.I)
    if match and not (digits_only and digits_only.group(1) == match.group(1)):
        value = int(match.group(1))
        # "draw a 7" names the digit, not how many
        if not re.search(rf"\b(an?|the|digit|number)\s+{value}\b|\b{value}s\b", text, re.I):
            return value
    for word, value in sorted(_NUMBER_WORDS.items(), key=lambda kv: -len(kv[0])):
        if re.search(rf"\b{word}\b" if word.isascii() else f"{word}(个|张|幅|只)", text, re.I):
            return value
    return default


def count_in(text: str) -> int | None:
    """An explicit number of things asked for ("three red circles", "画五个"), else None."""
    value = _count(text, -1)
    return value if value > 0 else None


def guess_arguments(tool: str, message: str, adapters: list[str]) -> dict:
    """Arguments read straight from the message, for when the model's own call is missing or broken."""
    text = message.strip()
    lower = text.lower()
    if tool == "generate_images":
        return {"prompt": text, "n": max(1, min(_count(text, 4), 64))}
    if tool == "calculator":
        return {"expression": find_expression(text) or text}
    if tool == "search_knowledge":
        return {"query": text}
    if tool == "switch_adapter":
        name = next((a for a in adapters if a.lower() in lower), None)
        return {"name": name or "base"}
    if tool == "train_image_model":
        model = next((m for m in ("vae", "gan", "ssl") if m in lower), "vae")
        if "masked" in lower or "掩码" in text:
            model = "ssl"
        dataset = "shapes" if re.search(r"shape|形状|图形", lower) else "digits"
        epochs = re.search(r"(\d+)\s*(epochs?|轮|个epoch)", lower)
        return {"model": model, "dataset": dataset, "epochs": int(epochs.group(1)) if epochs else 20}
    if tool == "inpaint_image":
        ratio = re.search(r"(\d{1,2})\s*%", text)
        model = "ssl-shapes" if re.search(r"shape|形状", lower) else "ssl-digits"
        return {"model": model, **({"mask_ratio": int(ratio.group(1)) / 100} if ratio else {})}
    if tool == "convert_units":
        match = re.search(r"(-?\d+(?:\.\d+)?)\s*°?\s*([a-z]+)\b.*?\b(?:to|in|into)\s+°?([a-z]+)", lower)
        if match:
            return {"value": float(match.group(1)), "from_unit": match.group(2), "to_unit": match.group(3)}
        match = re.search(r"how many\s+([a-z]+)\s+(?:is|are|in|make)\s+(-?\d+(?:\.\d+)?)\s*°?\s*([a-z]+)", lower)
        if match:  # "how many pounds is 5 kg"
            return {"value": float(match.group(2)), "from_unit": match.group(3), "to_unit": match.group(1)}
    return {}
