"""Top-up data for continued training of the `tools` adapter: `python -m assistant.training.tool_topup`.

A full retraining of the tools adapter is ~625 steps; on a CPU without bf16 that is hours. Continued training
(`SFTConfig.init_adapter`) starts from the shipped adapter instead, on a small file: new kinds of requests whose
key arguments the adapter gets wrong, mixed one to one with examples replayed from `tools.train.jsonl` so the
decisions it already makes well are rehearsed, not forgotten.

The kinds below were chosen from the argument errors on held-out sets dev, test, test3 and test4 (whose texts had
been read; test5 reported candidates 1-4), and candidate 6's from test6's (test7 reported it). Each top-up gained
key arguments on our tools and lost some on a /v1 client's tools, so the one shipped (candidate 8, this file's
QUOTAS; `tools.topup.jsonl`) trains `tools` from `tools-client`, which a client's tools keep
(`assistant/training/build_adapters.py`, docs/bench_tools.md).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
from collections import Counter
from pathlib import Path

from assistant.storage import atomic_write_text
from assistant.training.tool_data import (
    ADAPTERS,
    COLOUR_ZH,
    COLOURS,
    CONVERT_EN,
    CONVERT_ZH,
    DATA,
    DOC_KINDS_EN,
    DOC_KINDS_ZH,
    DOC_QUESTIONS_EN,
    DOC_QUESTIONS_ZH,
    DRAW_EN,
    DRAW_ZH,
    EN_COUNT,
    EN_DIGIT,
    EN_DIGIT_PLURAL,
    NO_TOOL,
    SEED,
    SHAPE_ZH,
    SHAPES,
    ZH_COUNT,
    ZH_DIGIT,
    Case,
    Generator,
    _allocate,
    _turn,
    app_tools,
    append_before_punctuation,
    article,
    check,
    en_noise,
    fill,
    normalize,
    zh_noise,
)

TOP_UP_SIZE = 295  # new examples (a quarter no-tool twins); REPLAY_SIZE more are replayed from the full data
REPLAY_SIZE = 150
# What the replay draws from the full data, as shares. Two top-ups that replayed at random (half no-tool, few of
# them after a history) raised false calls on follow-ups that need no tool (docs/bench_tools.md, eleventh
# session), so the replay leans on those; with the twins, about half of the file is no-tool, as in the full data.
# Candidate 5 lost 6 points of key arguments on the client tools (whose rows are 18 % of the full data and were
# replayed only by chance), so they have a share of their own.
REPLAY_MIX = {"client": 0.2, "none_after_history": 0.3, "none": 0.28, "tool": 0.22}
QUOTAS = {"draw_keep_fu": 2.5, "draw_count_forms": 1.5, "calc_word_fu": 2.5, "calc_forms": 2.0,
          "convert_context": 1.5, "search_upload_fu": 1.0, "train_dataset_zh": 1.0,
          # the negative twin of each new kind: the same history, a message that needs no tool
          "none_after_word": 3.0, "none_after_draw": 3.0,
          # the drawable twin of none_after_draw: the same forms with a subject the tool draws
          "draw_same_form": 3.0,
          # candidate 6, from the shipped adapter's drawing errors on test6: a colour asked for a digit is dropped
          # ("a blue 3" -> "digit 3"), counts said in words ("half a dozen", "a pair of") or relative to the last
          # drawing ("double that") are lost; and their no-tool twin, the same words in requests for no drawing
          "draw_colour_digit": 3.0, "draw_count_words": 2.5, "draw_relative_fu": 2.5, "none_count_words": 2.0,
          # candidate 7: candidates 5 and 6 lost client-tool calls and arguments although the replay kept client rows,
          # so the top-up brings new ones (the full data's generator, fresh draws) in about the full data's shares
          # candidate 8: those calls doubled the false calls on the client's no-tool requests (3 -> 6 of 50), its
          # client no-tool share being 33 % against the full data's 46 %: near misses and unlisted tools restore it
          "client_call": 3.0, "client_near": 2.0, "client_unlisted": 1.5, "client_general": 1.0,
          "client_followup": 1.0}

# Candidate 9, from candidate 8's errors on test8 and a browser try ("draw three green triangles with the gan model"
# drew with the default model): a model family named in a drawing (the grammar admits families since), discounts
# (打八五折, "15% off"), a follow-up that divides or discounts the last answer, a training follow-up that changes two
# things ("on digits and double the epochs"), 一打/半打 counts; and the no-tool twins. Generated after QUOTAS with
# the same random stream, so candidate 8's cases come out unchanged.
# Candidate 9 was made with --size-9 120 --replay 200 and not shipped: it called convert_units on currencies and
# lost a dev argument (docs/bench_tools.md, sixteenth session). 0 keeps the shipped file candidate 8's.
TOP_UP_9_SIZE = 0
QUOTAS_9 = {"draw_named_model": 3.0, "draw_named_model_fu": 1.5, "none_named_model": 2.0, "calc_discount": 2.0,
            "none_discount": 1.0, "calc_answer_fu": 2.0, "train_two_changes_fu": 2.0, "none_after_train": 1.0,
            "draw_dozen_zh": 1.5}

# Candidate 10, from candidate 9's new errors on test4 and dev (read): currencies converted with convert_units
# ("Convert 200 euros to US dollars", "now 50 pounds sterling to dollars" after pounds -> kg), a coloured animal
# drawn (画一只红色的猫), gallons/litres/millilitres confused, and "the chinese one" after a list taken as another
# list. Generated after QUOTAS_9 with the same random stream. Made with --size-9 120 --size-10 60 --replay 200 and
# not shipped: it lost key arguments on test10 and dev (docs/bench_tools.md, seventeenth session). 0 keeps the
# shipped file candidate 8's.
TOP_UP_10_SIZE = 0
QUOTAS_10 = {"none_currency": 2.0, "none_currency_fu": 1.5, "none_undrawable_colour": 1.5, "convert_pairs": 1.5,
             "switch_describe_fu": 1.0}

# Candidate 11, from the shipped adapter's drawings on test9 and test10 (read): it never set `model` when the family
# came first ("Use the GAN to draw 4 yellow circles", "用 VAE 画五个红色的数字 3", "could the vae draw me …"), and
# candidate 9's cases only ever named it at the end. Continued from the shipped `tools`, on these and a replay of
# its own top-up file. Made with --candidate-11 96 --replay 124; it met every goal on unseen test11 but was not
# shipped: two more false calls on test4 and two key arguments fewer on test7 (docs/bench_tools.md).
TOP_UP_11_SIZE = 0
QUOTAS_11 = {"draw_model_first": 3.0, "draw_named_model": 1.0, "draw_named_model_fu": 1.5, "none_named_model": 1.5}
MODEL_FIRST_EN = ["use {f} to {m}", "using {f}, {m}", "with {f}: {m}", "have {f} {m}", "could {f} {m}?",
                  "can {f} {m}?", "{m} from {f}", "{m}, all from {f}", "get {f} to {m}"]
MODEL_FIRST_ZH = ["用{f}{m}", "请用{f}{m}", "{f}帮我{m}", "让{f}{m}", "拿{f}{m}", "用{f}来{m}"]
# Candidate 12: candidate 11's kinds plus the no-tool questions it drew for (test4, test11: "VAE 生成的图为什么总是
# 比较模糊？", "PS 里怎么画一条虚线？"): questions about a model family's pictures, and drawing in other software.
QUOTAS_12 = {**QUOTAS_11, "none_model_question": 2.0, "none_draw_software": 2.0}
MODEL_QUESTION_EN = ["why do images from {f} always look {adj}?", "can {f} generate high-resolution pictures?",
                     "how much data does {f} need to draw digits well?", "does {f} need a GPU to draw?",
                     "what resolution are the pictures {f} makes?", "can {f} draw faces like in the papers?",
                     "why are the circles {f} draws a bit {adj}?"]
MODEL_QUESTION_ZH = ["{f}生成的图为什么总是{adj_zh}？", "{f}能生成高清图片吗？", "训练{f}画数字需要多少数据？",
                     "{f}画图一定要用GPU吗？", "{f}生成的图片分辨率是多少？", "为什么{f}画的圆有点{adj_zh}？"]
ADJ = [("blurry", "模糊"), ("noisy", "有噪点"), ("washed out", "发灰"), ("similar to each other", "千篇一律")]
SOFTWARE_EN = ["Photoshop", "PS", "Excel", "PowerPoint", "Word", "Procreate", "Figma", "GIMP", "Visio", "Paint"]
SOFTWARE_ZH = ["PS", "Photoshop", "Excel", "PPT", "Word", "Procreate", "Figma", "CAD", "画图工具", "美图秀秀"]
DRAW_SOFTWARE_EN = ["how do I draw a dashed line in {sw}?", "how do you draw a perfect circle in {sw}?",
                    "what's the shortcut to draw a straight line in {sw}?", "can {sw} draw arrows between boxes?",
                    "how do I draw a star shape in {sw}?", "how to draw a red triangle in {sw}",
                    "is there a way to draw a chart with 3 colours in {sw}?"]
DRAW_SOFTWARE_ZH = ["{sw}里怎么画一条虚线？", "{sw}怎么画一个正圆？", "在{sw}里画直线有快捷键吗？",
                    "{sw}里怎么画五角星？", "用{sw}画三角形怎么填成红色？", "{sw}能画箭头吗？"]
# Candidates 13 and 14: candidate 12's kinds, as a second stage of `tools` continued from the first. Candidate 13
# replayed 170 rows of the top-up and lost tool calls of kinds the top-up never had (the time, a list of adapters, a
# notes search: dev, test9); candidate 14, shipped (build_adapters), replays 120 of the top-up and 120 of the full
# file, tool-heavy. `python -m assistant.training.tool_topup --named` writes NAMED_FILE.
NAMED_SIZE = 150
NAMED_REPLAY = 120
NAMED_REPLAY_FULL = 120
NAMED_FILE = DATA / "tools.named.jsonl"
REPLAY_FULL_MIX = {"none_after_history": 0.3, "none": 0.3, "tool": 0.4}

# Candidate 15: compositional drawings ("two large red stars and a small blue circle"). No earlier file had one, and
# the shipped adapter kept the first group only (a browser try, nineteenth session). Tried as a third stage of
# `tools`, continued from the second, on these, their no-tool twins and a replay of both earlier files
# (`python -m assistant.training.tool_topup --composite` writes COMPOSITE_FILE). Not shipped: key arguments on the
# new test15 rose from 9 to 34-36 of 44, but every variant lost 3-10 key arguments on test14 or dev
# (docs/bench_tools.md, twentieth session), so the file is not committed.
# Candidate 15a (these kinds alone, 90 cases) taught "the count goes in the prompt": on test14 it lost `n` in
# single-group drawings that name a model ("diffusion model, 6 yellow stars" -> "yellow stars"); 15b rehearses
# those with their counts as `n`; 15b still lost 7 key arguments on test14 (a training request drawn, counts
# left in the prompt), so 15c replays 100 rows of the full file (was 60) and trains at half the rate.
QUOTAS_15 = {"draw_composite": 3.0, "draw_composite_fu": 1.0, "none_composite": 1.5, "draw": 2.0,
             "draw_named_model": 1.5, "draw_model_first": 1.0}
COMPOSITE_SIZE = 140
COMPOSITE_REPLAY = 60  # rows of the second stage's file
COMPOSITE_REPLAY_FULL = 100
COMPOSITE_FILE = DATA / "tools.composite.jsonl"
JOIN_EN = [" and ", ", ", " plus ", " along with ", " as well as ", ", and "]
JOIN_ZH = ["和", "以及", "，还有", "、", "跟"]
COMPOSITE_EN = ["draw {p}", "can you draw {p}?", "I'd like {p}", "make me {p}", "{p} please", "sketch {p}",
                "show me {p}", "generate {p}", "please render {p}", "could I get {p}?", "I need {p} for a slide",
                "draw {p} in one go", "paint {p}"]
COMPOSITE_ZH = ["画{p}", "帮我画{p}", "请画{p}", "我想要{p}", "生成{p}", "给我画{p}吧", "来{p}", "能画{p}吗？"]
COMPOSITE_FU_EN = ["now {p}", "next: {p}", "ok, {p} this time", "and now {p}", "great, now draw {p}"]
COMPOSITE_FU_ZH = ["现在画{p}", "接下来画{p}", "这次来{p}", "再画{p}"]
NONE_COMPOSITE_EN = ["what's the difference between a {a} and a {b}?", "which has more corners, a {s1} or a {s2}?",
                     "is a {c1} {s1} or a {c2} {s2} easier to see on a black background?",
                     "write a short poem about a {c1} {s1} and a {c2} {s2}",
                     "do {c1} and {c2} go well together on a poster?", "why is a {s1} not a {s2}?",
                     "in a logo, does a {c1} {s1} next to a {c2} {s2} look balanced?",
                     "what do {c1} {s1}s and {c2} {s2}s mean on road signs?"]
NONE_COMPOSITE_ZH = ["{s1}和{s2}有什么区别？", "写一首关于{c1}{s1}和{c2}{s2}的小诗", "{c1}和{c2}搭配好看吗？",
                     "{s1}和{s2}哪个角更多？", "海报上{c1}的{s1}配{c2}的{s2}协调吗？", "为什么{s1}不是{s2}？"]

DRAW_FIRST_EN = ["draw {k} {p}", "can you make {k} {p}?", "{k} {p} please", "show me {k} {p}"]
DRAW_FIRST_ZH = ["画{kz}个{p}", "帮我画{kz}个{p}", "来{kz}个{p}"]
KEEP_SHAPE_EN = ["now the same but {shapes}", "same thing but as {shapes}", "same colour and count, but {shapes}",
                 "make them {shapes} instead", "again, but {shapes} this time", "ok same but {shapes}"]
KEEP_SHAPE_ZH = ["换成{shape}，其他不变", "一样的，但是画成{shape}", "颜色和数量不变，改成{shape}", "这次换成{shape}吧",
                 "改画{shape}，别的都一样"]
KEEP_COLOUR_EN = ["same again in {c}", "now make them {c}, same number", "{c} this time, keep the count",
                  "same shapes but {c}", "can you redo those in {c}?"]
KEEP_COLOUR_ZH = ["颜色改成{cz}，数量不变", "数量不变，颜色换成{cz}", "换成{cz}的再画一次", "同样的，改成{cz}"]
COUNT_FORMS_EN = ["{p} x{k}", "{k}x {p}", "{p} ×{k}", "{p}, {k} of them", "{p} times {k}", "a batch of {k} {ps}"]
ONE_FORMS_EN = ["just one {p}", "a single {p}", "only 1 {p} please", "one {p}, nothing more"]
COUNT_FORMS_ZH = ["{p}来{kz}张", "生成{kz}张{p}的图片", "{p}，{kz}个", "画{p}，要{kz}张"]
ONE_FORMS_ZH = ["生成一张{p}的图片", "来一张{p}", "画一个{p}就行", "只要一张{p}"]

# (first message, reply, follow-up, expression) with {a} {b} {t} {k} slots; {t} is the first answer
WORD_FU_EN = [
    ("I run {a} times a week, {b} km each time. how far is that per week?", "That's {t} km per week.",
     "so over a whole {k}-week year?", "{t}*{k}"),
    ("A box holds {a} pens and I bought {b} boxes. How many pens is that?", "{t} pens in total.",
     "split equally among {k} people, how many does each get?", "{t}/{k}"),
    ("Tickets are {a} dollars each and we need {b} of them. What's the total?", "The total is {t} dollars.",
     "and what if we buy {k} times as many?", "{t}*{k}"),
    ("I save {a} a month. How much after {b} months?", "{t}.", "and if I keep that up for {k} times as long?",
     "{t}*{k}"),
    ("We have {b} tables with {a} chairs each. How many chairs?", "{t} chairs.",
     "if {k} of the chairs break, how many are left?", "{t}-{k}"),
]
WORD_FU_ZH = [
    ("一箱苹果有{a}个，我买了{b}箱，一共多少个？", "一共{t}个。", "平均分给{k}个人，每人几个", "{t}/{k}"),
    ("我每天走{a}步，走了{b}天，一共多少步？", "一共{t}步。", "那{k}倍呢？", "{t}*{k}"),
    ("一本书{a}元，买{b}本多少钱？", "一共{t}元。", "再加{k}元运费呢？", "{t}+{k}"),
    ("每排{a}个座位，一共{b}排，总共多少座位？", "总共{t}个座位。", "已经坐了{k}个人，还剩几个座位？", "{t}-{k}"),
]
PERCENT_BACK_EN = ["I bought {item} for ${a} and sold it for ${b}. What percentage of the original price did I get "
                   "back?", "paid {a} for {item}, sold it for {b} — what percent of what I paid is that?"]
PERCENT_BACK_ZH = ["{item}买的时候{a}元，卖了{b}元，收回了原价的百分之几？", "原价{a}，现在卖{b}，是原价的百分之多少？"]
TIP_SPLIT_EN = ["Dinner came to {bill}, we want to add a {p}% tip and split it evenly between the {k} of us. how "
                "much does each person pay?", "bill is {bill} plus {p}% tip, split {k} ways — how much each?"]
TIP_SPLIT_ZH = ["吃饭花了{bill}元，加{p}%的小费，{k}个人平摊，每人多少？",
                "账单{bill}，加上{p}%服务费，{k}个人AA，每人付多少"]
POWERS_EN = ["what's {a} to the power of {m} minus {b} to the power of {n}?", "{a}^{m} - {b}^{n} = ?",
             "compute {a} to the {m}th power minus {b} to the {n}th"]
POWERS_ZH = ["{a}的{m}次方减去{b}的{n}次方是多少", "{a}的{m}次方加上{b}的{n}次方等于多少",
             "算一下{a}的{m}次幂减{b}的{n}次幂"]
ITEMS_EN = ["a used bike", "my old phone", "a camera", "a sofa", "concert tickets"]
ITEMS_ZH = ["二手自行车", "旧手机", "相机", "沙发"]

OVEN_EN = [("My oven only shows Celsius but the recipe wants {v}°F. What should I set it to?", "F", "C"),
           ("the recipe says bake at {v}°C but my oven is in Fahrenheit, what's that?", "C", "F"),
           ("recipe: {v} degrees Fahrenheit. my oven uses celsius — what number do I use?", "F", "C")]
OVEN_ZH = [("烤箱只有摄氏度，食谱写的是{v}华氏度，应该调到多少？", "F", "C"),
           ("食谱要求{v}摄氏度，我的烤箱是华氏的，调多少？", "C", "F")]
NEGATIVE_ZH = [("零下{v}华氏度是多少摄氏度", "F", "C"), ("零下{v}摄氏度是多少华氏度", "C", "F"),
               ("零下{v}度（摄氏）换成华氏是多少", "C", "F")]
NEGATIVE_EN = [("minus {v} Fahrenheit in Celsius?", "F", "C"), ("what is -{v}°C in Fahrenheit", "C", "F"),
               ("{v} below zero Fahrenheit in C?", "F", "C")]
VOLUME_ZH = [("{v}加仑等于多少升", "gal", "l"), ("{v}升是多少加仑", "l", "gal"), ("{v}加仑换算成升", "gal", "l")]

# after a word problem or a conversion: questions about the answer, not new arithmetic
NONE_AFTER_WORD_EN = ["how would I do that in my head quickly?", "can you explain how you got that?", "is that a lot?",
                      "is that enough for a day?", "does that sound right to you?", "what about in euros?",
                      "and that same amount in pounds sterling?", "why did you multiply there?", "ok thanks!"]
NONE_AFTER_WORD_ZH = ["这是怎么算的？", "心算有什么快的方法吗？", "这个多吗？", "一天这么多够吗？", "那换成美元呢？",
                      "谢谢，明白了", "为什么要乘这个数？"]
# after a drawing or a refusal to draw: more things the models cannot draw, with a count and a colour
UNDRAWABLE_EN = ["{k} {c} horses", "{k} {c} smiley faces", "{k} {c} hearts", "{k} {c} cats", "{k} {c} letters A",
                 "{k} {c} hexagons", "{k} {c} flowers"]
UNDRAWABLE_ZH = ["{kz}匹{cz}的马", "{kz}个{cz}的笑脸", "{kz}颗{cz}的爱心", "{kz}只{cz}的猫", "{kz}个{cz}的六边形"]
UNDRAWABLE_ASK_EN = ["ok then {x}", "can you draw me {x}?", "fine, {x} instead", "how about {x}"]
UNDRAWABLE_ASK_ZH = ["那画{x}吧", "能画{x}吗？", "那就{x}"]
# counts said as words; each means exactly one number
COUNT_WORDS_EN = {2: ["a pair of", "a couple of", "two"], 3: ["a trio of", "three"], 6: ["half a dozen", "six"],
                  12: ["a dozen", "twelve"]}
COUNT_WORDS_ZH = {2: ["一对", "两个", "俩"], 6: ["半打", "六个"], 12: ["一打", "十二个"]}
# a colour said after the subject
COLOUR_AFTER_EN = ["{x}, {c} ones", "{x}, in {c}", "{x}, {c} if possible", "{x} - make them {c}", "{x}. {c} please",
                   "{x}, coloured {c}", "{x} in {c}"]
COLOUR_AFTER_ZH = ["{x}，要{cz}的", "{x}，颜色用{cz}", "{x}，{cz}的", "{x}，涂成{cz}"]
# a count relative to the last drawing: (template, factor)
RELATIVE_EN = [("double that number", 2), ("twice as many please", 2), ("can I get double that?", 2),
               ("now twice as many", 2), ("half as many this time", 0.5), ("same again but half as many", 0.5),
               ("three times as many", 3)]
RELATIVE_ZH = [("数量翻倍", 2), ("再来，数量加倍", 2), ("这次要两倍的数量", 2), ("数量减半再画一次", 0.5),
               ("数量变成三倍", 3)]
RELATIVE_COLOUR_EN = [" in {c} this time", ", and make them {c}", ", {c} now"]
RELATIVE_COLOUR_ZH = ["，这次用{cz}", "，颜色换成{cz}"]
DIGIT_CHANGE_EN = ["another set, digit {d} this time, everything else the same", "same again but with {d}s",
                   "now the number {dw}, same colour and count", "ok now do {d}s the same way"]
DIGIT_CHANGE_ZH = ["再来一组，换成数字{d}，其他不变", "一样的，但是换成{d}", "颜色数量不变，改成数字{d}"]
# the no-tool twin: the same count words, colours and digits in requests for no drawing
NONE_COUNT_EN = ["is {idiom} {c} roses too many for a first date?", "I have {idiom} eggs left, what can I bake?",
                 "my lucky number is {d} and my favourite colour is {c}. any fun facts about {d}?",
                 "what goes well with {idiom} {c} tulips in a vase?",
                 "is it true {c} cars get more speeding tickets?", "why is {d} considered unlucky in some places?",
                 "what should I pack for {idiom} days of hiking?"]
NONE_COUNT_ZH = ["买{idiom}{cz}的玫瑰送人合适吗？", "家里还剩{idiom}鸡蛋，能做什么甜点？",
                 "我的幸运数字是{d}，幸运色是{cz}，有什么说法吗？", "为什么有人觉得数字{d}不吉利？",
                 "{cz}的衣服配什么颜色的裤子好看？"]

# a model family as users name it: (how it is said, the `model` argument)
FAMILY_EN = {"gan": ["the GAN", "GAN", "the gan model", "a GAN"], "vae": ["the VAE", "VAE", "the vae model"],
             "diffusion": ["the diffusion model", "diffusion", "the diffusion one"]}
FAMILY_ZH = {"gan": ["GAN", "生成对抗网络", "GAN模型"], "vae": ["VAE", "变分自编码器", "VAE模型"],
             "diffusion": ["扩散模型", "diffusion模型", "diffusion"]}
WITH_MODEL_EN = [" with {f}", " using {f}", ", use {f}", " via {f}", " - {f} please", " (with {f})"]
WITH_MODEL_ZH = ["，用{f}", "，模型用{f}", "，用{f}来画", "（{f}）"]
REDO_MODEL_EN = ["same again but with {f}", "redo that with {f}", "can you try {f} for those?",
                 "now use {f}, same thing",
                 "same drawing, {f} this time"]
REDO_MODEL_ZH = ["换成{f}再画一次", "用{f}重新画", "同样的，改用{f}", "这次用{f}画"]
ABOUT_MODEL_EN = ["is {f} better than {g} for drawing digits?", "how does {f} actually draw a circle?",
                  "why do the pictures from {f} look blurry?", "what's the difference between {f} and {g}?",
                  "which is faster to train, {f} or {g}?", "explain {f} to me like I'm five"]
ABOUT_MODEL_ZH = ["{f}和{g}哪个画得更好？", "{f}是怎么画出图片的？", "为什么{f}画的图有点模糊？",
                  "{f}和{g}有什么区别？",
                  "{f}的原理能简单讲讲吗"]
# discounts: (how it is said in Chinese, the multiplier)
ZHE = [("八五折", "0.85"), ("九折", "0.9"), ("七五折", "0.75"), ("八折", "0.8"), ("六折", "0.6"), ("九五折", "0.95"),
       ("85折", "0.85"), ("7折", "0.7")]
DISCOUNT_ZH = ["{item}原价{a}元，打{z}后多少钱？", "标价{a}，{z}，实际要付多少", "{a}元的{item}打{z}是多少钱",
               "这件{item}{a}块，现在{z}，算一下价格"]
DISCOUNT_EN = ["{item} costs ${a} and it's {p}% off. what do I pay?", "{p}% off a ${a} {item}, how much is that?",
               "price is {a}, minus {p} percent discount - final price?", "what's {a} with a {p}% discount?"]
NONE_DISCOUNT_EN = ["is {p}% off a good deal for a used {item}?", "when do {item} sales usually happen?",
                    "should I wait for a {p}% discount or buy now?"]
NONE_DISCOUNT_ZH = ["{z}的{item}值得买吗？", "一般什么时候{item}打折最多？", "打{z}算便宜吗"]
ITEMS_DISCOUNT_EN = ["jacket", "laptop", "bike", "pair of shoes", "lamp"]
ITEMS_DISCOUNT_ZH = ["外套", "电脑", "鞋", "台灯", "书包"]
# after an answer t: divide it, or take a share off it: (template, expression)
ANSWER_FU_EN = [("now split that across {k} months", "{t}/{k}"),
                ("spread over {k} weeks, how much per week?", "{t}/{k}"),
                ("and minus {p}% of that?", "{t}*(1-{p}/100)"), ("what if I take {p}% off that?", "{t}*(1-{p}/100)"),
                ("divide that by {k}", "{t}/{k}")]
ANSWER_FU_ZH = [("平均到{k}个月呢", "{t}/{k}"), ("分{k}期，每期多少", "{t}/{k}"), ("那再减去{p}%呢", "{t}*(1-{p}/100)"),
                ("再打个{z}呢", "{t}*{m}")]
# a training follow-up that changes the dataset and scales the epochs: (template, factor)
TRAIN_TWO_EN = [("do that again but on the {d} dataset and double the epochs", 2),
                ("same model on {d}, with twice the epochs", 2), ("now {d}, and half as many epochs", 0.5),
                ("run it again on {d} with three times the epochs", 3)]
TRAIN_TWO_ZH = [("换成{d}数据，轮数翻倍", 2), ("再训练一次，用{d}数据集，轮数减半", 0.5),
                ("在{d}上再来一次，轮数加倍", 2)]
AFTER_TRAIN_EN = ["how long will that take?", "what does an epoch mean here?", "will it tell me when it's done?",
                  "is more epochs always better?", "can I keep chatting while it trains?"]
AFTER_TRAIN_ZH = ["这个要训练多久？", "训练完会提醒我吗？", "轮数越多越好吗？", "训练的时候我还能聊天吗？"]
DOZEN_ZH = ["帮我生成{said}{cz}的{shape}", "来{said}{cz}的{shape}", "给我画{said}{shape}，{cz}的",
            "生成{said}{shape}，要{cz}"]

# currencies: convert_units knows none, so these are answered in text (rates cannot be looked up offline)
CURRENCY_EN = ["convert {money} {cur1} to {cur2} please", "how many {cur2} would I get for {money} {cur1}?",
               "{money} {cur1} in {cur2}", "change {money} {cur1} into {cur2} for me",
               "what's {money} {cur1} worth in {cur2} right now?", "exchange {money} {cur1} to {cur2}"]
CURRENCY_ZH = ["帮我把{money}{zh_cur1}换成{zh_cur2}", "{money}{zh_cur1}等于多少{zh_cur2}？",
               "{money}{zh_cur1}兑换{zh_cur2}是多少", "我有{money}{zh_cur1}，能换多少{zh_cur2}",
               "{zh_cur1}{money}块换算成{zh_cur2}"]
CURRENCY_FU_EN = ["now {money} pounds sterling to dollars", "and {money} euros in US dollars?",
                  "ok and {money} dollars to yen?", "what about {money} GBP in euros", "now do {money} USD to RMB"]
CURRENCY_FU_ZH = ["那{money}英镑换成美元呢？", "再算一下{money}美元等于多少人民币", "那{money}欧元呢，换成日元",
                  "{money}港币能换多少人民币？"]
# an animal or object in a colour: the image models draw digits and four shapes only
UNDRAWABLE_ONE_EN = ["draw a {c} cat", "draw me a {c} dog", "can you draw a {c} horse?", "make a picture of a {c} bird",
                     "draw {k} {c} cats", "generate a {c} flower", "paint a {c} car for me"]
UNDRAWABLE_ONE_ZH = ["画一只{cz}的猫", "画一只{cz}的狗", "帮我画一匹{cz}的马", "画{kz}只{cz}的小鸟", "生成一朵{cz}的花",
                     "给我画一辆{cz}的车"]
# unit pairs whose names it mixed up (gallons and grams, litres and millilitres, inches and feet)
MIXED_PAIRS = [("gal", "l"), ("l", "gal"), ("ml", "gal"), ("gal", "ml"), ("ml", "l"), ("l", "ml"), ("ml", "cup"),
               ("gal", "cup"), ("in", "m"), ("in", "ft"), ("ft", "in"), ("oz", "g"), ("g", "oz"), ("lb", "kg")]
# an adapter named by what it does, after a list
DESCRIBE_EN = {"zh-tutor": ["the chinese one", "the one that answers in Chinese", "the tutor one pls",
                            "the chinese tutor", "let's do the chinese adapter"],
               "concise": ["the short-answer one", "the concise one", "the one with short answers please",
                           "the brief one", "go with the concise adapter"]}
DESCRIBE_ZH = {"zh-tutor": ["中文那个", "用中文辅导那个", "就用那个中文的吧", "中文的那个适配器"],
               "concise": ["简洁那个", "回答短的那个", "就用简洁的吧", "简短回答那个"]}

REFUSAL_EN = "Sorry, I can only draw the digits 0-9 and the shapes circle, square, triangle and star."
REFUSAL_ZH = "抱歉，我只能画数字0-9和圆、正方形、三角形、五角星。"

UPLOADED_EN = [("I just uploaded my {doc}.", "Got it, your {doc} is uploaded. What would you like to know about it?"),
               ("here's the {doc} I mentioned, just added it", "Thanks, the {doc} is in your documents now."),
               ("uploaded the {doc} a minute ago", "I see it. Ask me anything about the {doc}.")]
UPLOADED_ZH = [("我刚上传了{doc}。", "收到，{doc}已经上传。你想了解什么？"),
               ("{doc}传好了", "好的，{doc}已经在你的文档里了。")]
TRAIN_ZH = ["在 {ds} 上训练一个{m}", "用{ds}训练{m}", "拿{ds}训练个{m}", "{m}，在{ds}上训练一下"]
DATASET_ZH = {"shapes": ["shapes", "形状数据集", "图形数据"], "digits": ["digits", "数字数据集", "手写数字"]}
MODEL_ZH = {"vae": ["变分自编码器", "VAE"], "gan": ["生成对抗网络", "GAN"], "diffusion": ["扩散模型", "diffusion模型"]}


class TopUp(Generator):
    """The new kinds of cases, in the same format and prompt as the full data."""

    def shape_subject(self, rng: random.Random, lang: str) -> dict:
        while True:
            s = self.draw_subject(rng, lang)
            if s["kind"] == "shape" and s["colour"]:
                return s

    def gen_draw_keep_fu(self, rng: random.Random, split: str, lang: str) -> Case:
        s, k = self.shape_subject(rng, lang), rng.randint(2, 6)
        first_pool = DRAW_FIRST_EN if lang == "en" else DRAW_FIRST_ZH
        first = fill(rng.choice(first_pool), k=k if rng.random() < 0.5 else EN_COUNT[k], kz=ZH_COUNT[k],
                     p=self.shape_phrase(s, lang, plural=lang == "en"))
        arguments = {"prompt": self.shape_phrase(s, lang, plural=lang == "en"), "n": k}
        history = _turn(first, self.draw_reply(rng, arguments, s, lang))
        if rng.random() < 0.55:
            shape = rng.choice([x for x in SHAPES if x != s["shape"]])
            s = {**s, "shape": shape, "shape_zh": rng.choice(SHAPE_ZH[shape])}
            pool = KEEP_SHAPE_EN if lang == "en" else KEEP_SHAPE_ZH
            message = fill(self.t(rng, split, f"keep_shape_{lang}", pool), shapes=shape + "s", shape=s["shape_zh"])
        else:
            colour = rng.choice([c for c in COLOURS if c != s["colour"]])
            s = {**s, "colour": colour}
            pool = KEEP_COLOUR_EN if lang == "en" else KEEP_COLOUR_ZH
            message = fill(self.t(rng, split, f"keep_colour_{lang}", pool), c=colour, cz=COLOUR_ZH[colour])
        message = en_noise(rng, message) if lang == "en" else zh_noise(rng, message)
        new = {"prompt": self.shape_phrase(s, lang, plural=lang == "en"), "n": k}
        return Case(message, "generate_images", new, history, lang=lang, kind="followup")

    def gen_draw_count_forms(self, rng: random.Random, split: str, lang: str) -> Case:
        s = self.draw_subject(rng, lang)
        k = 1 if rng.random() < 0.4 else rng.randint(2, 6)
        if lang == "en":
            pool = ONE_FORMS_EN if k == 1 else COUNT_FORMS_EN
            p = self.draw_prompt(s, lang)
            ps = self.draw_prompt(s, lang, plural=True) if s["kind"] == "shape" else f"{s['d']}s"
            message = fill(self.t(rng, split, f"count_forms_{lang}_{k == 1}", pool), p=p, ps=ps, k=k)
            prompt = self.draw_prompt(s, lang, plural=k > 1) if s["kind"] == "shape" else p
        else:
            pool = ONE_FORMS_ZH if k == 1 else COUNT_FORMS_ZH
            prompt = self.draw_prompt(s, lang)
            message = fill(self.t(rng, split, f"count_forms_{lang}_{k == 1}", pool), p=prompt, kz=ZH_COUNT[k])
        message = en_noise(rng, message) if lang == "en" else zh_noise(rng, message)
        return Case(message, "generate_images", {"prompt": prompt, "n": k}, lang=lang)

    def gen_calc_word_fu(self, rng: random.Random, split: str, lang: str) -> Case:
        first, reply, follow, target = rng.choice(WORD_FU_EN if lang == "en" else WORD_FU_ZH)
        a, b = rng.randint(3, 60), rng.randint(2, 15)
        if "km" in first:
            a, b = rng.randint(2, 6), round(rng.uniform(2, 15), 1)
        t = round(a * b, 2)
        t_text = str(int(t)) if float(t).is_integer() else str(t)
        k = rng.choice([d for d in range(2, 13) if float(t) % d == 0] or [2]) if "/" in target else rng.randint(2, 52)
        if "-" in target:
            k = rng.randint(1, max(1, int(t) - 1))
        history = _turn(fill(first, a=a, b=b), fill(reply, t=t_text))
        message = fill(follow, k=k)
        message = en_noise(rng, message) if lang == "en" else zh_noise(rng, message)
        return Case(message, "calculator", {"expression": fill(target, t=t_text, k=k)}, history, lang=lang,
                    kind="followup")

    def gen_calc_forms(self, rng: random.Random, split: str, lang: str) -> Case:
        kind = rng.choice(["back", "tip", "powers"])
        en = lang == "en"
        if kind == "back":
            a = rng.randint(50, 1500)
            b = rng.randint(10, a - 5)
            item = rng.choice(ITEMS_EN if en else ITEMS_ZH)
            message = fill(rng.choice(PERCENT_BACK_EN if en else PERCENT_BACK_ZH), a=a, b=b, item=item)
            expression = f"{b}/{a}*100"
        elif kind == "tip":
            bill, p, k = round(rng.uniform(20, 400), 2), rng.choice([10, 12, 15, 18, 20]), rng.randint(2, 6)
            message = fill(rng.choice(TIP_SPLIT_EN if en else TIP_SPLIT_ZH), bill=f"{bill:.2f}", p=p, k=k)
            expression = f"{bill:.2f}*(1+{p}/100)/{k}"
        else:
            a, m, b, n = rng.randint(2, 9), rng.randint(2, 10), rng.randint(2, 9), rng.randint(2, 8)
            template = rng.choice(POWERS_EN if en else POWERS_ZH)
            message = fill(template, a=a, m=m, b=b, n=n)
            sign = "+" if "加" in template else "-"
            expression = f"{a}**{m}{sign}{b}**{n}"
        message = en_noise(rng, message) if en else zh_noise(rng, message)
        return Case(message, "calculator", {"expression": expression}, lang=lang)

    def gen_convert_context(self, rng: random.Random, split: str, lang: str) -> Case:
        kind = rng.choice(["oven", "negative", "volume"] if lang == "zh" else ["oven", "oven", "negative"])
        if kind == "oven":
            template, u1, u2 = rng.choice(OVEN_EN if lang == "en" else OVEN_ZH)
            value = rng.choice([325, 350, 375, 400, 425, 450]) if u1 == "F" else rng.choice([160, 180, 200, 220])
        elif kind == "negative":
            template, u1, u2 = rng.choice(NEGATIVE_EN if lang == "en" else NEGATIVE_ZH)
            value = rng.randint(1, 30)
        else:
            template, u1, u2 = rng.choice(VOLUME_ZH)
            value = rng.choice([1, 2, 3, 5, 10, 20])
        message = fill(template, v=value)
        message = en_noise(rng, message) if lang == "en" else zh_noise(rng, message)
        signed = -value if kind == "negative" else value
        return Case(message, "convert_units", {"value": signed, "from_unit": u1, "to_unit": u2}, lang=lang)

    def gen_search_upload_fu(self, rng: random.Random, split: str, lang: str) -> Case:
        en = lang == "en"
        doc = rng.choice(DOC_KINDS_EN if en else DOC_KINDS_ZH)
        first, reply = rng.choice(UPLOADED_EN if en else UPLOADED_ZH)
        question, query = rng.choice(DOC_QUESTIONS_EN if en else DOC_QUESTIONS_ZH)
        message = en_noise(rng, question) if en else zh_noise(rng, question)
        return Case(message, "search_knowledge", {"query": query}, _turn(fill(first, doc=doc), fill(reply, doc=doc)),
                    lang=lang, kind="followup")

    def gen_train_dataset_zh(self, rng: random.Random, split: str, lang: str) -> Case:
        model, dataset = rng.choice(list(MODEL_ZH)), rng.choice(list(DATASET_ZH))
        message = fill(rng.choice(TRAIN_ZH), ds=rng.choice(DATASET_ZH[dataset]), m=rng.choice(MODEL_ZH[model]))
        return Case(zh_noise(rng, message), "train_image_model", {"model": model, "dataset": dataset}, lang="zh")


    def gen_none_after_word(self, rng: random.Random, split: str, lang: str) -> Case:
        first, reply, _, _ = rng.choice(WORD_FU_EN if lang == "en" else WORD_FU_ZH)
        a, b = rng.randint(3, 60), rng.randint(2, 15)
        history = _turn(fill(first, a=a, b=b), fill(reply, t=a * b))
        message = rng.choice(NONE_AFTER_WORD_EN if lang == "en" else NONE_AFTER_WORD_ZH)
        message = en_noise(rng, message) if lang == "en" else zh_noise(rng, message)
        return Case(message, NO_TOOL, {}, history, lang=lang, kind="followup")

    def gen_draw_same_form(self, rng: random.Random, split: str, lang: str) -> Case:
        """The drawable twin of `none_after_draw`: the same messages and histories with a subject the tool draws,
        so that the subject decides, not the form of the request."""
        k, en = rng.randint(2, 6), lang == "en"
        s = self.shape_subject(rng, lang)
        phrase = self.shape_phrase(s, lang, plural=en)
        thing = f"{k} {phrase}" if en else f"{ZH_COUNT[k]}个{phrase}"
        message = fill(rng.choice(UNDRAWABLE_ASK_EN if en else UNDRAWABLE_ASK_ZH), x=thing)
        history = self.after_refusal_or_drawing(rng, lang, k)
        message = en_noise(rng, message) if en else zh_noise(rng, message)
        return Case(message, "generate_images", {"prompt": phrase, "n": k}, history, lang=lang, kind="followup")

    def after_refusal_or_drawing(self, rng: random.Random, lang: str, k: int) -> list[dict]:
        """A history of a refused drawing or of a drawing of k shapes, half and half."""
        en = lang == "en"
        if rng.random() < 0.5:
            asked = rng.choice(["a dog", "my cat", "a house"] if en else ["一只狗", "我的猫", "一座房子"])
            return _turn((f"draw {asked}" if en else f"画{asked}"), REFUSAL_EN if en else REFUSAL_ZH)
        s = self.shape_subject(rng, lang)
        arguments = {"prompt": self.shape_phrase(s, lang, plural=en), "n": k}
        return _turn(fill(rng.choice(DRAW_FIRST_EN if en else DRAW_FIRST_ZH), k=k, kz=ZH_COUNT[k],
                          p=arguments["prompt"]), self.draw_reply(rng, arguments, s, lang))

    def gen_none_after_draw(self, rng: random.Random, split: str, lang: str) -> Case:
        k, colour = rng.randint(2, 6), rng.choice(COLOURS)
        en = lang == "en"
        thing = fill(rng.choice(UNDRAWABLE_EN if en else UNDRAWABLE_ZH), k=k, c=colour, kz=ZH_COUNT[k],
                     cz=COLOUR_ZH[colour])
        message = fill(rng.choice(UNDRAWABLE_ASK_EN if en else UNDRAWABLE_ASK_ZH), x=thing)
        history = self.after_refusal_or_drawing(rng, lang, k)
        message = en_noise(rng, message) if en else zh_noise(rng, message)
        return Case(message, NO_TOOL, {}, history, lang=lang, kind="followup")

    # --- candidate 6: coloured digits, counts in words, counts relative to the last drawing ---------------------
    @staticmethod
    def count_words(rng: random.Random, lang: str) -> tuple[int, str]:
        """(n, how it is said): a digit, a number word or an idiom such as "half a dozen" / 半打."""
        if rng.random() < 0.45:
            k = rng.choice(list(COUNT_WORDS_EN if lang == "en" else COUNT_WORDS_ZH))
            return k, rng.choice((COUNT_WORDS_EN if lang == "en" else COUNT_WORDS_ZH)[k])
        k = rng.randint(2, 8)
        if lang == "en":
            return k, str(k) if rng.random() < 0.5 else EN_COUNT[k]
        return k, rng.choice([f"{ZH_COUNT[k]}个", f"{k}个", f"{ZH_COUNT[k]}张"])

    @staticmethod
    def colour_digit_prompt(d: int, colour: str, lang: str) -> str:
        """The tool's prompt for a coloured digit: the colour stays in it (the tool names it back if the digit
        model cannot colour), so the call carries what was asked."""
        return f"{colour} digit {d}" if lang == "en" else f"{COLOUR_ZH[colour]}的数字{d}"

    def gen_draw_colour_digit(self, rng: random.Random, split: str, lang: str) -> Case:
        d, colour = rng.randrange(10), rng.choice(COLOURS)
        r, arguments = rng.random(), {"prompt": self.colour_digit_prompt(d, colour, lang)}
        if lang == "en":
            dw = EN_DIGIT[d]
            if r < 0.4:
                subject = rng.choice([f"{article(colour)} {colour} {d}", f"the digit {d} in {colour}",
                                      f"the number {dw} in {colour}", f"{article(str(d))} {d} in {colour}",
                                      f"a {colour} number {d}", f"a handwritten {d} in {colour}"])
            elif r < 0.55:
                arguments["n"] = 1
                subject = rng.choice([f"one {colour} {d}", f"just one {colour} {d}", f"a single {d} in {colour}",
                                      f"one image of the digit {dw} in {colour}"])
            else:
                k, said = self.count_words(rng, lang)
                arguments["n"] = k
                subject = rng.choice([f"{said} {colour} {d}s", f"{said} {colour} {EN_DIGIT_PLURAL[d]}",
                                      f"the number {d} in {colour}, {said} copies".replace("a pair of copies",
                                                                                            "a pair"),
                                      f"{said} {d}s in {colour}"])
            message = fill(en_noise(rng, self.t(rng, split, "draw_en", DRAW_EN)), s=subject)
        else:
            cz = COLOUR_ZH[colour]
            if r < 0.4:
                subject = rng.choice([f"{cz}的数字{d}", f"一个{cz}的{d}", f"{cz}的{d}", f"一个{cz}的数字{ZH_DIGIT[d]}"])
            elif r < 0.55:
                arguments["n"] = 1
                subject = rng.choice([f"一张{cz}的数字{d}就行", f"只要一张{cz}的{d}", f"就一个{cz}的数字{d}"])
            else:
                k, said = self.count_words(rng, lang)
                arguments["n"] = k
                subject = rng.choice([f"{said}{cz}的数字{d}", f"{said}{cz}的{d}"])
            message = fill(zh_noise(rng, self.t(rng, split, "draw_zh", DRAW_ZH)), s=subject)
        return Case(message, "generate_images", arguments, lang=lang)

    def gen_draw_count_words(self, rng: random.Random, split: str, lang: str) -> Case:
        """Counts said as words, and a colour said after the subject ("some squares, red ones")."""
        s, en = self.draw_subject(rng, lang), lang == "en"
        k, said = self.count_words(rng, lang) if rng.random() < 0.75 else (None, "")
        colour_after = rng.random() < 0.6
        if s["kind"] == "digit":
            colour = rng.choice(COLOURS) if colour_after else None
            prompt = self.colour_digit_prompt(s["d"], colour, lang) if colour else self.draw_prompt(s, lang)
            if en:
                x = f"{said} {s['d']}s" if k else rng.choice([f"some {s['d']}s", f"the number {s['d']}"])
            else:
                x = f"{said}数字{s['d']}" if k else f"数字{s['d']}"
        else:
            colour = s["colour"] or rng.choice(COLOURS)
            plain = {**s, "colour": None} if colour_after else s
            full = {**s, "colour": colour} if colour_after else s
            prompt = self.shape_phrase(full, lang, plural=en and k != 1)
            if en:
                x = f"{said} {self.shape_phrase(plain, lang, plural=True)}" if k else \
                    f"some {self.shape_phrase(plain, lang, plural=True)}"
            else:
                x = f"{said}{self.shape_phrase(plain, lang)}" if k else self.shape_phrase(plain, lang)
            colour = colour if colour_after else None
        if colour:
            pool = COLOUR_AFTER_EN if en else COLOUR_AFTER_ZH
            subject = fill(rng.choice(pool), x=x, c=colour, cz=COLOUR_ZH[colour])
        else:
            subject = x
        template = self.t(rng, split, f"draw_{lang}", DRAW_EN if en else DRAW_ZH)
        message = fill(en_noise(rng, template) if en else zh_noise(rng, template), s=subject)
        arguments = {"prompt": prompt, **({"n": k} if k else {})}
        return Case(message, "generate_images", arguments, lang=lang)

    def gen_draw_relative_fu(self, rng: random.Random, split: str, lang: str) -> Case:
        """After a drawing of k things: "double that number" (2k), "half as many" (k/2), perhaps in a new colour;
        or, after coloured digits, another digit with the colour and the count kept."""
        en = lang == "en"
        k = rng.choice([2, 3, 4, 6])
        if rng.random() < 0.5:
            d, colour = rng.randrange(10), rng.choice(COLOURS)
            said = (f"{k} {colour} {d}s" if rng.random() < 0.5 else f"{EN_COUNT[k]} {colour} {d}s") if en \
                else f"{ZH_COUNT[k]}个{COLOUR_ZH[colour]}的数字{d}"
            first = fill(rng.choice(["draw {p}", "can you make {p}?", "{p} please", "show me {p}"] if en
                                    else ["画{p}", "帮我画{p}", "来{p}"]), p=said)
            reply = (f"Here are {k} images of the digit {d} in {colour}." if en
                     else f"这是{k}张{COLOUR_ZH[colour]}的数字{d}。")
            make = lambda d_, c_: self.colour_digit_prompt(d_, c_, lang)  # noqa: E731
            subject = (d, colour)
        else:
            s = self.shape_subject(rng, lang)
            said = self.shape_phrase(s, lang, plural=en)
            first = fill(rng.choice(DRAW_FIRST_EN if en else DRAW_FIRST_ZH), k=k if rng.random() < 0.5
                         else EN_COUNT[k], kz=ZH_COUNT[k], p=said)
            reply = self.draw_reply(rng, {"prompt": said, "n": k}, s, lang)
            make = lambda shape_, c_: self.shape_phrase({**s, "shape": shape_, "colour": c_}, lang, plural=en)  # noqa: E731
            subject = (s["shape"], s["colour"])
        history = _turn(first, reply)
        if isinstance(subject[0], int) and rng.random() < 0.35:  # another digit, colour and count kept
            d = rng.choice([x for x in range(10) if x != subject[0]])
            message = fill(rng.choice(DIGIT_CHANGE_EN if en else DIGIT_CHANGE_ZH), d=d, dw=EN_DIGIT[d])
            arguments = {"prompt": make(d, subject[1]), "n": k}
        else:
            template, factor = rng.choice([t for t in (RELATIVE_EN if en else RELATIVE_ZH)
                                           if t[1] != 0.5 or k % 2 == 0])
            colour = subject[1]
            if rng.random() < 0.4:
                colour = rng.choice([c for c in COLOURS if c != subject[1]])
                template += fill(rng.choice(RELATIVE_COLOUR_EN if en else RELATIVE_COLOUR_ZH), c=colour,
                                 cz=COLOUR_ZH[colour])
            message = template
            arguments = {"prompt": make(subject[0], colour), "n": int(k * factor)}
        message = en_noise(rng, message) if en else zh_noise(rng, message)
        return Case(message, "generate_images", arguments, history, lang=lang, kind="followup")

    def gen_none_count_words(self, rng: random.Random, split: str, lang: str) -> Case:
        en = lang == "en"
        words = COUNT_WORDS_EN if en else COUNT_WORDS_ZH
        idiom = rng.choice(words[rng.choice(list(words))])
        colour, d = rng.choice(COLOURS), rng.randrange(10)
        message = fill(rng.choice(NONE_COUNT_EN if en else NONE_COUNT_ZH), idiom=idiom, c=colour,
                       cz=COLOUR_ZH[colour], d=d)
        message = en_noise(rng, message) if en else zh_noise(rng, message)
        return Case(message, NO_TOOL, {}, lang=lang)

    # --- candidate 9 -----------------------------------------------------------------------------------------
    @staticmethod
    def family(rng: random.Random, lang: str) -> tuple[str, str]:
        """(model argument, how the user says it)."""
        model = rng.choice(["gan", "gan", "vae", "diffusion", "diffusion"])
        return model, rng.choice((FAMILY_EN if lang == "en" else FAMILY_ZH)[model])

    def gen_draw_named_model(self, rng: random.Random, split: str, lang: str) -> Case:
        while True:
            message, arguments, s = self.draw_request(rng, split, lang)
            if "model" not in arguments and "seed" not in arguments:
                break
        model, said = self.family(rng, lang)
        if rng.random() < 0.2:  # the checkpoint's own name
            model = said = f"{model}-{'digits' if s['kind'] == 'digit' else 'shapes'}"
        extra = fill(rng.choice(WITH_MODEL_EN if lang == "en" else WITH_MODEL_ZH), f=said)
        return Case(append_before_punctuation(message, extra), "generate_images", {**arguments, "model": model},
                    lang=lang)

    def gen_draw_model_first(self, rng: random.Random, split: str, lang: str) -> Case:
        """The model family said before the drawing ("use the GAN to draw …", "用VAE画…")."""
        en = lang == "en"
        while True:
            message, arguments, s = self.draw_request(rng, split, lang)
            bare = message.strip().rstrip("?？.。!！")
            verb = re.match(r"(draw|make|generate|sketch|create|render|paint)\b", bare, re.I) if en \
                else re.match(r"(画|生成|来|做)", bare)
            if verb and "model" not in arguments and "seed" not in arguments:
                break
        model, said = self.family(rng, lang)
        if rng.random() < 0.15:  # the checkpoint's own name
            model = said = f"{model}-{'digits' if s['kind'] == 'digit' else 'shapes'}"
        template = rng.choice(MODEL_FIRST_EN if en else MODEL_FIRST_ZH)
        if en and not template.startswith("{m}"):
            bare = bare[0].lower() + bare[1:]
        message = fill(template, f=said, m=bare)
        message = en_noise(rng, message) if en else zh_noise(rng, message)
        return Case(message, "generate_images", {**arguments, "model": model}, lang=lang)

    def gen_none_model_question(self, rng: random.Random, split: str, lang: str) -> Case:
        """A question about a model family's pictures, not a request for one."""
        en = lang == "en"
        _, said = self.family(rng, lang)
        adj, adj_zh = rng.choice(ADJ)
        message = fill(rng.choice(MODEL_QUESTION_EN if en else MODEL_QUESTION_ZH), f=said, adj=adj, adj_zh=adj_zh)
        message = en_noise(rng, message) if en else zh_noise(rng, message)
        return Case(message, NO_TOOL, {}, lang=lang)

    # --- candidate 15: compositional drawings -----------------------------------------------------------------
    def composite_phrase(self, rng: random.Random, lang: str) -> str:
        """2-3 groups ("two large red stars and a small blue circle", "两个数字3和一个数字7") as one phrase."""
        en, digits = lang == "en", rng.random() < 0.2
        parts: list[str] = []
        chosen: set = set()
        while len(parts) < (3 if rng.random() < 0.3 else 2):
            k = 1 if rng.random() < 0.45 else rng.randint(2, 5)
            if digits:
                d = rng.randrange(10)
                if d in chosen:
                    continue
                chosen.add(d)
                if en:
                    phrase = (rng.choice([f"{article(str(d))} {d}", f"one {d}", f"a single {d}"]) if k == 1 else
                              rng.choice([f"{k} {d}s", f"{EN_COUNT[k]} {d}s", f"{EN_COUNT[k]} {EN_DIGIT_PLURAL[d]}"]))
                else:
                    phrase = f"{ZH_COUNT[k]}个{rng.choice(['数字', ''])}{d}"
            else:
                s = self.draw_subject(rng, lang)
                if s["kind"] != "shape" or (s["shape"], s["colour"], s["size"]) in chosen:
                    continue
                chosen.add((s["shape"], s["colour"], s["size"]))
                if en:
                    phrase = (f"{rng.choice(['a', 'one'])} {self.shape_phrase(s, lang)}" if k == 1 else
                              f"{rng.choice([str(k), EN_COUNT[k]])} {self.shape_phrase(s, lang, plural=True)}")
                else:
                    phrase = f"{ZH_COUNT[k]}个{self.shape_phrase(s, lang)}"
            parts.append(phrase)
        if en:
            join = rng.choice(JOIN_EN)
            head = ", ".join(parts[:-1]) if len(parts) > 2 else parts[0]
            return f"{head}{join}{parts[-1]}"
        join = rng.choice(JOIN_ZH)
        head = "、".join(parts[:-1]) if len(parts) > 2 else parts[0]
        return f"{head}{join}{parts[-1]}"

    def composite_call(self, rng: random.Random, lang: str) -> tuple[str, dict]:
        """A phrase and its call: the whole phrase is the prompt (the tool draws every group from it)."""
        while not draws_every_group(phrase := self.composite_phrase(rng, lang)):
            pass
        arguments: dict = {"prompt": phrase}
        if rng.random() < 0.15:
            model, said = self.family(rng, lang)
            arguments["model"] = model
            phrase += fill(rng.choice(WITH_MODEL_EN if lang == "en" else WITH_MODEL_ZH), f=said)
        return phrase, arguments

    def gen_draw_composite(self, rng: random.Random, split: str, lang: str) -> Case:
        en = lang == "en"
        said, arguments = self.composite_call(rng, lang)
        message = fill(rng.choice(COMPOSITE_EN if en else COMPOSITE_ZH), p=said)
        message = en_noise(rng, message) if en else zh_noise(rng, message)
        return Case(message, "generate_images", arguments, lang=lang)

    def gen_draw_composite_fu(self, rng: random.Random, split: str, lang: str) -> Case:
        """After a drawing, a new request with several groups: all of them, not the earlier subject."""
        en, k = lang == "en", rng.randint(2, 5)
        s = self.shape_subject(rng, lang)
        first = {"prompt": self.shape_phrase(s, lang, plural=en), "n": k}
        history = _turn(fill(rng.choice(DRAW_FIRST_EN if en else DRAW_FIRST_ZH), k=k, kz=ZH_COUNT[k],
                             p=first["prompt"]), self.draw_reply(rng, first, s, lang))
        said, arguments = self.composite_call(rng, lang)
        message = fill(rng.choice(COMPOSITE_FU_EN if en else COMPOSITE_FU_ZH), p=said)
        message = en_noise(rng, message) if en else zh_noise(rng, message)
        return Case(message, "generate_images", arguments, history, lang=lang, kind="followup")

    def gen_none_composite(self, rng: random.Random, split: str, lang: str) -> Case:
        """Two shapes and colours named in a question or a writing request: no drawing."""
        en = lang == "en"
        s1, s2 = rng.sample(SHAPES, 2)
        c1, c2 = rng.sample(COLOURS, 2)
        if en:
            message = fill(rng.choice(NONE_COMPOSITE_EN), s1=s1, s2=s2, c1=c1, c2=c2, a=f"{c1} {s1}", b=f"{c2} {s2}")
        else:
            message = fill(rng.choice(NONE_COMPOSITE_ZH), s1=rng.choice(SHAPE_ZH[s1]), s2=rng.choice(SHAPE_ZH[s2]),
                           c1=COLOUR_ZH[c1], c2=COLOUR_ZH[c2])
        message = en_noise(rng, message) if en else zh_noise(rng, message)
        return Case(message, NO_TOOL, {}, lang=lang)

    def gen_none_draw_software(self, rng: random.Random, split: str, lang: str) -> Case:
        """How to draw something in other software: a how-to question, even when it names a shape and a colour."""
        en = lang == "en"
        message = fill(rng.choice(DRAW_SOFTWARE_EN if en else DRAW_SOFTWARE_ZH),
                       sw=rng.choice(SOFTWARE_EN if en else SOFTWARE_ZH))
        message = en_noise(rng, message) if en else zh_noise(rng, message)
        return Case(message, NO_TOOL, {}, lang=lang)

    def gen_draw_named_model_fu(self, rng: random.Random, split: str, lang: str) -> Case:
        en, k = lang == "en", rng.randint(2, 6)
        s = self.shape_subject(rng, lang) if rng.random() < 0.6 else None
        if s is None:
            d = rng.randrange(10)
            said, prompt = (f"{k} {d}s", f"digit {d}") if en else (f"{ZH_COUNT[k]}个数字{d}", f"数字{d}")
            reply = f"Here are {k} images of the digit {d}." if en else f"这是{k}张数字{d}。"
        else:
            said = prompt = self.shape_phrase(s, lang, plural=en)
            reply = self.draw_reply(rng, {"prompt": prompt, "n": k}, s, lang)
            said = f"{k} {said}" if en else f"{ZH_COUNT[k]}个{said}"
        first = fill(rng.choice(["draw {p}", "can you make {p}?", "{p} please"] if en else ["画{p}", "帮我画{p}"]),
                     p=said)
        model, name = self.family(rng, lang)
        message = fill(rng.choice(REDO_MODEL_EN if en else REDO_MODEL_ZH), f=name)
        message = en_noise(rng, message) if en else zh_noise(rng, message)
        return Case(message, "generate_images", {"prompt": prompt, "n": k, "model": model}, _turn(first, reply),
                    lang=lang, kind="followup")

    def gen_none_named_model(self, rng: random.Random, split: str, lang: str) -> Case:
        en = lang == "en"
        (f, *_), (g, *_) = rng.sample([FAMILY_EN[m] if en else FAMILY_ZH[m] for m in FAMILY_EN], 2)
        message = fill(rng.choice(ABOUT_MODEL_EN if en else ABOUT_MODEL_ZH), f=f, g=g)
        history: list[dict] = []
        if rng.random() < 0.4:  # right after a drawing: still a question, not a request
            s = self.shape_subject(rng, lang)
            arguments = {"prompt": self.shape_phrase(s, lang, plural=en), "n": 3}
            history = _turn(fill(rng.choice(DRAW_FIRST_EN if en else DRAW_FIRST_ZH), k=3, kz=ZH_COUNT[3],
                                 p=arguments["prompt"]), self.draw_reply(rng, arguments, s, lang))
        message = en_noise(rng, message) if en else zh_noise(rng, message)
        return Case(message, NO_TOOL, {}, history, lang=lang, kind="followup" if history else "single")

    def gen_calc_discount(self, rng: random.Random, split: str, lang: str) -> Case:
        a = rng.choice([rng.randint(20, 900), rng.randint(2, 90) * 10])
        if lang == "en":
            p = rng.choice([10, 15, 20, 25, 30, 35, 40])
            message = fill(rng.choice(DISCOUNT_EN), a=a, p=p, item=rng.choice(ITEMS_DISCOUNT_EN))
            expression = f"{a}*(1-{p}/100)"
        else:
            z, m = rng.choice(ZHE)
            message = fill(rng.choice(DISCOUNT_ZH), a=a, z=z, item=rng.choice(ITEMS_DISCOUNT_ZH))
            expression = f"{a}*{m}"
        message = en_noise(rng, message) if lang == "en" else zh_noise(rng, message)
        return Case(message, "calculator", {"expression": expression}, lang=lang)

    def gen_none_discount(self, rng: random.Random, split: str, lang: str) -> Case:
        en = lang == "en"
        message = fill(rng.choice(NONE_DISCOUNT_EN if en else NONE_DISCOUNT_ZH), p=rng.choice([10, 20, 30]),
                       z=rng.choice(ZHE)[0], item=rng.choice(ITEMS_DISCOUNT_EN if en else ITEMS_DISCOUNT_ZH))
        message = en_noise(rng, message) if en else zh_noise(rng, message)
        return Case(message, NO_TOOL, {}, lang=lang)

    def gen_calc_answer_fu(self, rng: random.Random, split: str, lang: str) -> Case:
        first, reply, _, _ = rng.choice(WORD_FU_EN if lang == "en" else WORD_FU_ZH)
        a, b = rng.randint(3, 60), rng.randint(2, 15)
        if "km" in first:
            a, b = rng.randint(2, 6), rng.randint(2, 15)
        t = a * b
        template, target = rng.choice(ANSWER_FU_EN if lang == "en" else ANSWER_FU_ZH)
        k, p = rng.choice([d for d in range(2, 13) if t % d == 0] or [2]), rng.choice([5, 10, 15, 20, 25])
        z, m = rng.choice(ZHE)
        message = fill(template, k=k, p=p, z=z)
        message = en_noise(rng, message) if lang == "en" else zh_noise(rng, message)
        return Case(message, "calculator", {"expression": fill(target, t=t, k=k, p=p, m=m)},
                    _turn(fill(first, a=a, b=b), fill(reply, t=t)), lang=lang, kind="followup")

    def train_history(self, rng: random.Random, split: str, lang: str) -> tuple[list[dict], dict]:
        """A training request that was started, with its arguments (dataset and epochs always set)."""
        first, arguments = self.train_request(rng, split, lang, model=rng.choice(["vae", "gan", "diffusion"]))
        arguments = {"model": arguments["model"], "dataset": arguments.get("dataset", "digits"),
                     "epochs": arguments.get("epochs") or rng.choice([10, 20, 30, 40])}
        reply = self.started_training(rng, arguments)
        return _turn(first, reply), arguments

    def gen_train_two_changes_fu(self, rng: random.Random, split: str, lang: str) -> Case:
        history, arguments = self.train_history(rng, split, lang)
        template, factor = rng.choice([t for t in (TRAIN_TWO_EN if lang == "en" else TRAIN_TWO_ZH)
                                       if t[1] != 0.5 or arguments["epochs"] % 2 == 0])
        dataset = "shapes" if arguments["dataset"] == "digits" else "digits"
        shown = dataset if lang == "en" else rng.choice([dataset, {"digits": "数字", "shapes": "形状"}[dataset]])
        message = fill(template, d=shown)
        message = en_noise(rng, message) if lang == "en" else zh_noise(rng, message)
        new = {"model": arguments["model"], "dataset": dataset, "epochs": int(arguments["epochs"] * factor)}
        return Case(message, "train_image_model", new, history, lang=lang, kind="followup")

    def gen_none_after_train(self, rng: random.Random, split: str, lang: str) -> Case:
        history, _ = self.train_history(rng, split, lang)
        message = rng.choice(AFTER_TRAIN_EN if lang == "en" else AFTER_TRAIN_ZH)
        message = en_noise(rng, message) if lang == "en" else zh_noise(rng, message)
        return Case(message, NO_TOOL, {}, history, lang=lang, kind="followup")

    def gen_draw_dozen_zh(self, rng: random.Random, split: str, lang: str) -> Case:
        k = rng.choice([12, 6, 2, 12])
        said = rng.choice(COUNT_WORDS_ZH[k])
        s = self.shape_subject(rng, "zh")
        colour = s["colour"]
        plain = {**s, "colour": None}
        message = fill(rng.choice(DOZEN_ZH), said=said, cz=COLOUR_ZH[colour], shape=self.shape_phrase(plain, "zh"))
        return Case(zh_noise(rng, message), "generate_images", {"prompt": self.shape_phrase(s, "zh"), "n": k},
                    lang="zh")

    # --- candidate 10: currencies, coloured animals, mixed-up units, an adapter named by what it does ------------
    def gen_none_currency(self, rng: random.Random, split: str, lang: str) -> Case:
        en = lang == "en"
        message = self.fill_slots(rng, rng.choice(CURRENCY_EN if en else CURRENCY_ZH))
        message = en_noise(rng, message) if en else zh_noise(rng, message)
        return Case(message, NO_TOOL, {}, lang=lang)

    def gen_none_currency_fu(self, rng: random.Random, split: str, lang: str) -> Case:
        """A currency right after a unit conversion (often pounds of weight): still no tool."""
        en = lang == "en"
        first, arguments = self.convert_request(rng, "train", lang)
        history = _turn(first, self.convert(arguments))
        message = self.fill_slots(rng, rng.choice(CURRENCY_FU_EN if en else CURRENCY_FU_ZH))
        message = en_noise(rng, message) if en else zh_noise(rng, message)
        return Case(message, NO_TOOL, {}, history, lang=lang, kind="followup")

    def gen_none_undrawable_colour(self, rng: random.Random, split: str, lang: str) -> Case:
        en, k, colour = lang == "en", rng.randint(2, 5), rng.choice(COLOURS)
        message = fill(rng.choice(UNDRAWABLE_ONE_EN if en else UNDRAWABLE_ONE_ZH), c=colour, cz=COLOUR_ZH[colour],
                       k=k, kz=ZH_COUNT[k])
        message = en_noise(rng, message) if en else zh_noise(rng, message)
        return Case(message, NO_TOOL, {}, lang=lang)

    def gen_convert_pairs(self, rng: random.Random, split: str, lang: str) -> Case:
        u1, u2 = rng.choice(MIXED_PAIRS)
        value = self.unit_value(rng, u1)
        template = self.t(rng, "train", f"convert_{lang}", CONVERT_EN if lang == "en" else CONVERT_ZH)
        text = en_noise(rng, template) if lang == "en" else zh_noise(rng, template)
        message = fill(text.replace("{v} {u1}", "{q}").replace("{v}{u1}", "{q}"),
                       q=self.quantity(rng, value, u1, lang), u2=self.unit_text(rng, u2, lang))
        arguments = {"value": int(value) if float(value).is_integer() else value, "from_unit": u1, "to_unit": u2}
        return Case(message, "convert_units", arguments, lang=lang)

    def gen_switch_describe_fu(self, rng: random.Random, split: str, lang: str) -> Case:
        """After the adapters were listed, "the chinese one" picks an adapter by what it does."""
        listed = self.gen_switch_ordinal(rng, split, lang)
        name = rng.choice(ADAPTERS)
        message = rng.choice((DESCRIBE_EN if lang == "en" else DESCRIBE_ZH)[name])
        message = en_noise(rng, message) if lang == "en" else zh_noise(rng, message)
        return Case(message, "switch_adapter", {"name": name}, listed.history, lang=lang, kind="followup")


def generate(convert, size: int = TOP_UP_SIZE, seed: int = SEED, size_9: int = TOP_UP_9_SIZE,  # noqa: ANN001
             size_10: int = TOP_UP_10_SIZE) -> list[Case]:
    """`size` new cases of QUOTAS, then `size_9` of QUOTAS_9 and `size_10` of QUOTAS_10 (all languages: Chinese
    only where the kind is Chinese), no message twice."""
    gen, rng = TopUp(convert, seed), random.Random(f"{seed}:topup")
    cases: list[Case] = []
    seen: set[str] = set()
    allocation = {**_allocate(size, QUOTAS), **(_allocate(size_9, QUOTAS_9) if size_9 else {}),
                  **(_allocate(size_10, QUOTAS_10) if size_10 else {})}
    for category, count in allocation.items():
        made = 0
        while made < count:
            lang = "zh" if category.endswith("_zh") or rng.random() < 0.4 else "en"
            case = getattr(gen, f"gen_{category}")(rng, "train", lang)
            if normalize(case.key()) in seen:
                continue
            seen.add(normalize(case.key()))
            case.category = category
            cases.append(case)
            made += 1
    return cases


def draws_every_group(phrase: str) -> bool:
    """Does the image tool read `phrase` as the groups it was built from (each group parsed alone)?"""
    from assistant.imaging.groups import built_in_attributes
    from assistant.imaging.prompting import PART_SEPARATORS, parse_composition, parse_prompt

    attributes = built_in_attributes(phrase)
    groups = [parse_prompt(piece, attributes) for piece in PART_SEPARATORS.split(phrase) if piece.strip()]
    whole = parse_composition(phrase, attributes)
    return not whole.unknown and [(g.values, g.count or 1) for g in groups] == \
        [(p.values, p.count or 1) for p in whole.parts]


def new_cases(gen: TopUp, rng: random.Random, size: int, quotas: dict[str, float]) -> list[Case]:
    """`size` distinct cases, each kind's share per `quotas`, 40 % of them in Chinese."""
    cases: list[Case] = []
    seen: set[str] = set()
    for category, count in _allocate(size, quotas).items():
        while sum(c.category == category for c in cases) < count:
            case = getattr(gen, f"gen_{category}")(rng, "train", "zh" if rng.random() < 0.4 else "en")
            if normalize(case.key()) not in seen:
                seen.add(normalize(case.key()))
                case.category = category
                cases.append(case)
    return cases


def write_composite(out: Path, tools: list[dict], registry_tools: dict, convert, size: int = COMPOSITE_SIZE,  # noqa: ANN001
                    replay: int = COMPOSITE_REPLAY, replay_full: int = COMPOSITE_REPLAY_FULL,
                    seed: int = SEED) -> dict:
    """The third stage's file: `size` cases of QUOTAS_15, `replay` rows of the second stage's file (it replays the
    first's) and `replay_full` rows of tools.train.jsonl per REPLAY_FULL_MIX, shuffled."""
    rng = random.Random(f"{seed}:composite15")
    cases = new_cases(TopUp(convert, seed), rng, size, QUOTAS_15)
    check(cases, registry_tools, convert)
    rows = [case.example(tools) for case in cases]
    named = NAMED_FILE.read_text("utf-8").splitlines()
    rows += [json.loads(line) for line in random.Random(f"{seed}:replay15").sample(named, replay)]
    rows += replay_rows(replay_full, random.Random(f"{seed}:replay15full"), REPLAY_FULL_MIX)
    rng.shuffle(rows)
    atomic_write_text(out, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return {"file": str(out), "new": len(cases), "replayed": replay + replay_full,
            "per_category": dict(Counter(c.category for c in cases))}


def write_named(out: Path, tools: list[dict], registry_tools: dict, convert, size: int,  # noqa: ANN001
                replay: int, seed: int = SEED, quotas: dict[str, float] | None = None, replay_full: int = 0) -> dict:
    """The second stage's file (candidate 11's kinds; candidates 12-14: `quotas`=QUOTAS_12): `size` new cases,
    `replay` rows of the top-up file (what the first stage trained on, so continuing rehearses its data) and
    `replay_full` rows of tools.train.jsonl per REPLAY_FULL_MIX (the kinds the top-up never had), shuffled."""
    rng = random.Random(f"{seed}:topup11")
    cases = new_cases(TopUp(convert, seed), rng, size, quotas or QUOTAS_11)
    check(cases, registry_tools, convert)
    rows = [case.example(tools) for case in cases]
    shipped = (DATA / "tools.topup.jsonl").read_text("utf-8").splitlines()
    rows += [json.loads(line) for line in random.Random(f"{seed}:replay11").sample(shipped, replay)]
    rows += replay_rows(replay_full, random.Random(f"{seed}:replay14"), REPLAY_FULL_MIX) if replay_full else []
    rng.shuffle(rows)
    atomic_write_text(out, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return {"file": str(out), "new": len(cases), "replayed": replay + replay_full,
            "per_category": dict(Counter(c.category for c in cases))}


def replay_stratum(row: dict) -> str:
    """Which REPLAY_MIX share a row of the full training file belongs to."""
    messages = row["messages"]
    if not messages[0]["content"].startswith("Tools:"):  # the client tools (an OpenAI client's own list)
        return "client"
    if json.loads(messages[-1]["content"])["tool"] != NO_TOOL:
        return "tool"
    return "none_after_history" if len(messages) > 3 else "none"  # system, user, assistant: no history


def replay_rows(count: int, rng: random.Random, mix: dict[str, float] = REPLAY_MIX) -> list[dict]:
    """`count` rows of tools.train.jsonl, drawn per `mix` share."""
    strata: dict[str, list[dict]] = {name: [] for name in REPLAY_MIX}
    for line in (DATA / "tools.train.jsonl").read_text("utf-8").splitlines():
        row = json.loads(line)
        strata[replay_stratum(row)].append(row)
    wanted = _allocate(count, mix)
    return [row for name in mix for row in rng.sample(strata[name], wanted[name])]


def write(out: Path, tools: list[dict], registry_tools: dict, convert, size: int = TOP_UP_SIZE,  # noqa: ANN001
          replay: int = REPLAY_SIZE, seed: int = SEED, size_9: int = TOP_UP_9_SIZE,
          size_10: int = TOP_UP_10_SIZE) -> dict:
    """Check the new cases, add `replay` examples of the full training file, shuffle, write; returns counts."""
    cases = generate(convert, size, seed, size_9, size_10)
    check(cases, registry_tools, convert)
    rows = [case.example(tools) for case in cases]
    rng = random.Random(f"{seed}:replay")
    rows += replay_rows(replay, rng)
    rng.shuffle(rows)
    atomic_write_text(out, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return {"file": str(out), "new": len(cases), "replayed": replay,
            "per_category": dict(Counter(c.category for c in cases))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DATA / "tools.topup.jsonl")
    parser.add_argument("--size", type=int, default=TOP_UP_SIZE, help="new examples")
    parser.add_argument("--replay", type=int, default=REPLAY_SIZE, help="examples replayed from tools.train.jsonl")
    parser.add_argument("--size-9", type=int, default=TOP_UP_9_SIZE, help="new examples of candidate 9's kinds")
    parser.add_argument("--size-10", type=int, default=TOP_UP_10_SIZE, help="new examples of candidate 10's kinds")
    parser.add_argument("--candidate-11", type=int, default=TOP_UP_11_SIZE, metavar="SIZE",
                        help="write candidate 11's file instead: SIZE cases of QUOTAS_11 + --replay shipped rows")
    parser.add_argument("--candidate-12", action="store_true", help="with --candidate-11: QUOTAS_12 instead")
    parser.add_argument("--replay-full", type=int, default=0,
                        help="with --candidate-11: also replay this many rows of tools.train.jsonl (REPLAY_FULL_MIX)")
    parser.add_argument("--named", action="store_true",
                        help=f"write the shipped second stage's file ({NAMED_FILE.name}) instead")
    parser.add_argument("--composite", action="store_true",
                        help=f"write the shipped third stage's file ({COMPOSITE_FILE.name}) instead")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tools, registry_tools = app_tools(Path(tmp))
        convert = lambda a: str(registry_tools["convert_units"].invoke(a))  # noqa: E731
        if args.composite:
            report = write_composite(COMPOSITE_FILE, tools, registry_tools, convert)
        elif args.named or args.candidate_11:
            out, size, replay, full = ((NAMED_FILE, NAMED_SIZE, NAMED_REPLAY, NAMED_REPLAY_FULL) if args.named
                                       else (args.out, args.candidate_11, args.replay, args.replay_full))
            report = write_named(out, tools, registry_tools, convert, size, replay,
                                 quotas=QUOTAS_12 if args.named or args.candidate_12 else None, replay_full=full)
        else:
            report = write(args.out, tools, registry_tools, convert, args.size, args.replay, size_9=args.size_9,
                           size_10=args.size_10)
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
