"""Tool decisions over a *client's* tools, for the `tools` adapter's data (`tool_data.py` mixes them in).

The /v1 API lets a client list its own functions (`get_weather`, `send_email`, …); the decision step then runs
under the `tools` adapter with the full prompt (`decision_messages(..., compact=False)`) and those tools only. An
adapter that saw nothing but the app's own tools learns "a currency question needs no tool" as a fact about
currencies, and declines a listed `convert_currency` (the seventh session's candidate did). These cases teach the
rule instead: call a listed tool when the user wants what it does, and decline when the user only talks about its
topic, or when the tool that would serve the request is not listed.

Each catalog entry has two or three spellings of the same tool (names, descriptions, argument names differ), so the
adapter reads the listing instead of remembering names.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

# Slot values: (text in the message, value of the argument). Chinese city names stay as written.
SLOT_VALUES: dict[str, list[tuple[str, object]]] = {
    "city": [(c, c) for c in ("Paris", "Berlin", "Madrid", "Chicago", "Toronto", "Seoul", "Lisbon", "Denver",
                              "Nairobi", "Oslo", "Mumbai", "Vienna", "Austin", "Lima", "Hanoi", "Dublin")],
    "zh_city": [(c, c) for c in ("北京", "上海", "广州", "深圳", "杭州", "成都", "武汉", "西安", "南京", "重庆")],
    "ticker": [(t, t) for t in ("AAPL", "MSFT", "TSLA", "NVDA", "AMZN", "GOOGL", "META", "NFLX", "IBM", "INTC")],
    "company": [("Apple", "AAPL"), ("Microsoft", "MSFT"), ("Tesla", "TSLA"), ("Nvidia", "NVDA"),
                ("Amazon", "AMZN"), ("Netflix", "NFLX")],
    "email": [(e, e) for e in ("anna@example.com", "tom.lee@example.org", "sales@acme.io", "mike@example.net",
                               "hr@company.com", "li.wei@example.cn", "jo@example.com", "team@startup.dev")],
    "amount": [(str(a), a) for a in (50, 100, 250, 1200, 75, 3000, 20, 499)],
    "cur_from": [("dollars", "USD"), ("USD", "USD"), ("euros", "EUR"), ("EUR", "EUR"), ("pounds", "GBP"),
                 ("GBP", "GBP"), ("yen", "JPY"), ("Swiss francs", "CHF")],
    "cur_to": [("euros", "EUR"), ("EUR", "EUR"), ("yen", "JPY"), ("JPY", "JPY"), ("Canadian dollars", "CAD"),
               ("pesos", "MXN"), ("rupees", "INR"), ("pounds", "GBP")],
    "zh_cur_from": [("美元", "USD"), ("欧元", "EUR"), ("英镑", "GBP"), ("日元", "JPY")],
    "zh_cur_to": [("人民币", "CNY"), ("港币", "HKD"), ("韩元", "KRW"), ("欧元", "EUR")],
    "flight": [(f, f) for f in ("BA117", "LH400", "UA901", "AF22", "DL45", "CA981", "MU587", "QF1")],
    "order": [(o, o) for o in ("48213", "A-77120", "100934", "ZX-5521", "730018")],
    "room": [(r, r) for r in ("kitchen", "bedroom", "living room", "office", "hallway", "garage")],
    "zh_room": [("客厅", "客厅"), ("卧室", "卧室"), ("厨房", "厨房"), ("书房", "书房")],
    "degrees": [(str(d), d) for d in (19, 20, 21, 22, 23, 68, 70, 72)],
    "channel": [(c, c) for c in ("general", "dev", "marketing", "random", "ops", "design")],
    "topic": [(t, t) for t in ("electric cars", "the World Cup", "interest rates", "AI regulation",
                               "the Mars mission", "renewable energy", "the housing market")],
    "zh_topic": [(t, t) for t in ("新能源汽车", "世界杯", "房价", "人工智能", "高考")],
    "date": [("March 14", "March 14"), ("next Tuesday", "next Tuesday"), ("June 2", "June 2"),
             ("tomorrow", "tomorrow"), ("Friday", "Friday"), ("October 9", "October 9")],
    "time": [(t, t) for t in ("9am", "3pm", "10:30", "18:00", "noon", "7:15 pm")],
    "people": [(str(n), n) for n in (2, 3, 4, 5, 6, 8)],
    "restaurant": [(r, r) for r in ("Luigi's", "The Green Fork", "Sakura", "Casa Lola", "Blue Door Bistro")],
}
# free-text slots: in the message and in a free-text argument, never a key argument of the evaluation
FREE_TEXT: dict[str, list[str]] = {
    "note": ["I'm running 10 minutes late", "the meeting moved to 4pm", "the report is ready for review",
             "thanks for yesterday", "I'll send the slides tonight", "lunch is on me tomorrow"],
    "zh_note": ["我会晚到十分钟", "会议改到下午四点了", "报告已经写好了", "明天的午饭我请"],
    "task": ["call mom", "take my medicine", "water the plants", "submit the timesheet", "pick up the laundry"],
    "zh_task": ["给妈妈打电话", "吃药", "交报告", "去取快递"],
    "event": ["dentist appointment", "team standup", "yoga class", "call with the bank", "project review"],
    "bug": ["the login page crashes on Safari", "exports are missing the header row", "search returns nothing",
            "the app freezes when uploading large files"],
    "query": ["the best hiking trails near Denver", "reviews of the Pixel 9", "the opening hours of the Louvre",
              "cheap flights to Lisbon in May", "the latest Python release notes"],
}


@dataclass(frozen=True)
class ClientTool:
    """One tool a client might send, in several spellings, with requests that call it and requests that do not."""

    key: str
    spellings: tuple[tuple[str, str, dict[str, str]], ...]  # (name, description, canonical arg -> its name)
    params: dict[str, dict]  # canonical arg -> JSON schema
    required: tuple[str, ...]
    call_en: tuple[tuple[str, dict[str, str]], ...]  # (template, canonical arg -> slot)
    call_zh: tuple[tuple[str, dict[str, str]], ...]
    near_en: tuple[str, ...]  # its topic, no call
    near_zh: tuple[str, ...]
    follow_en: tuple[tuple[str, str, str], ...] = ()  # (first request, answer, follow-up) — the follow-up calls again


S = {"type": "string"}
N = {"type": "number"}
I = {"type": "integer"}  # noqa: E741

CATALOG: tuple[ClientTool, ...] = (
    ClientTool(
        "weather",
        (("get_weather", "Get the current weather of a city", {"city": "city"}),
         ("weather_now", "Current conditions and temperature for a location", {"city": "location"}),
         ("fetch_forecast", "Today's weather forecast for a place", {"city": "place"})),
        {"city": S}, ("city",),
        (("what's the weather like in {city} at the moment?", {"city": "city"}),
         ("is it going to rain in {city} today?", {"city": "city"}),
         ("temperature in {city} right now", {"city": "city"}),
         ("do I need an umbrella in {city} this afternoon?", {"city": "city"}),
         ("how cold is it in {city} today", {"city": "city"}),
         ("check the forecast for {city}", {"city": "city"}),
         ("Is it sunny in {city}?", {"city": "city"})),
        (("{zh_city}今天天气怎么样？", {"city": "zh_city"}), ("{zh_city}现在多少度？", {"city": "zh_city"}),
         ("{zh_city}今天会下雨吗？", {"city": "zh_city"}), ("查一下{zh_city}的天气", {"city": "zh_city"})),
        ("write a short poem about rainy weather", "why is the sky blue?", "what causes thunderstorms?",
         "what should I wear when it's freezing outside?", "how do meteorologists predict the weather?",
         "is it safe to run in hot weather?", "what's the difference between weather and climate?",
         "describe a stormy night in two sentences"),
        ("写一首关于下雨的小诗", "为什么会打雷？", "天气冷的时候穿什么好？", "天气和气候有什么区别？"),
        (("what's the weather in {city}?", "It's 18°C and cloudy in {city} right now.", "and in {city2}?"),
         ("is it raining in {city}?", "No rain in {city} at the moment, 12°C.", "what about {city2}?")),
    ),
    ClientTool(
        "stock",
        (("get_stock_price", "Current price of a stock ticker", {"ticker": "ticker"}),
         ("stock_quote", "Latest market quote for a stock symbol", {"ticker": "symbol"})),
        {"ticker": S}, ("ticker",),
        (("what's {ticker} trading at?", {"ticker": "ticker"}),
         ("current price of {ticker} shares", {"ticker": "ticker"}),
         ("how is {company} stock doing today?", {"ticker": "company"}),
         ("give me a quote for {ticker}", {"ticker": "ticker"}), ("how much is one {company} share now?",
                                                                  {"ticker": "company"})),
        (("{ticker}现在股价多少？", {"ticker": "ticker"}), ("查一下{ticker}的股价", {"ticker": "ticker"})),
        ("what is a stock split?", "explain what a P/E ratio means", "should beginners buy index funds?",
         "why do stock prices fall after bad earnings?", "what's the difference between a stock and a bond?",
         "write a haiku about the stock market"),
        ("什么是市盈率？", "股票和债券有什么区别？", "新手应该怎么开始投资？"),
        (("what's {ticker} at?", "{ticker} is at 182.40 USD, up 1.2% today.", "and {ticker2}?"),),
    ),
    ClientTool(
        "email",
        (("send_email", "Send an email", {"to": "to", "body": "body"}),
         ("email_send", "Sends an e-mail message to a recipient", {"to": "recipient", "body": "message"})),
        {"to": S, "body": S}, ("to", "body"),
        (("email {email} that {note}", {"to": "email", "body": "note"}),
         ("send a note to {email}: {note}", {"to": "email", "body": "note"}),
         ("shoot {email} an email saying {note}", {"to": "email", "body": "note"}),
         ("please mail {email} and tell them {note}", {"to": "email", "body": "note"})),
        (("给{email}发邮件，说{zh_note}", {"to": "email", "body": "zh_note"}),
         ("发封邮件到{email}：{zh_note}", {"to": "email", "body": "zh_note"})),
        ("how do I write a polite email declining a job offer?", "what's a good subject line for a follow-up email?",
         "draft an email to my landlord about the broken heater", "is it rude to email someone on a Sunday?",
         "how do I set up an email filter in Gmail?", "proofread this: 'Dear Sir, I writting to aply for the job'"),
        ("怎么写一封礼貌的请假邮件？", "帮我起草一封给房东的邮件，说暖气坏了", "邮件的结尾怎么写比较得体？"),
    ),
    ClientTool(
        "currency",
        (("convert_currency", "Convert an amount between currencies at today's rate",
          {"amount": "amount", "from": "from", "to": "to"}),
         ("fx_convert", "Live exchange-rate conversion", {"amount": "amount", "from": "base", "to": "target"})),
        {"amount": N, "from": S, "to": S}, ("amount", "from", "to"),
        (("how much is {amount} {cur_from} in {cur_to}?", {"amount": "amount", "from": "cur_from", "to": "cur_to"}),
         ("convert {amount} {cur_from} to {cur_to}", {"amount": "amount", "from": "cur_from", "to": "cur_to"}),
         ("{amount} {cur_from} is how many {cur_to} today?", {"amount": "amount", "from": "cur_from",
                                                                "to": "cur_to"})),
        (("{amount}{zh_cur_from}能换多少{zh_cur_to}？", {"amount": "amount", "from": "zh_cur_from",
                                                        "to": "zh_cur_to"}),
         ("把{amount}{zh_cur_from}换成{zh_cur_to}", {"amount": "amount", "from": "zh_cur_from", "to": "zh_cur_to"})),
        ("why does the yen go up and down so much?", "what currency do they use in Thailand?",
         "is it better to exchange money at the airport or at home?", "explain how exchange rates are set",
         "what was the euro introduced for?"),
        ("为什么汇率会变化？", "泰国用什么货币？", "出国换钱在哪里换比较划算？"),
    ),
    ClientTool(
        "calendar",
        (("create_calendar_event", "Add an event to the user's calendar", {"title": "title", "date": "date",
                                                                           "time": "time"}),
         ("schedule_event", "Creates a calendar entry", {"title": "summary", "date": "day", "time": "start"})),
        {"title": S, "date": S, "time": S}, ("title", "date"),
        (("put a {event} in my calendar on {date} at {time}", {"title": "event", "date": "date", "time": "time"}),
         ("schedule a {event} for {date} at {time}", {"title": "event", "date": "date", "time": "time"}),
         ("add {event} to my calendar, {date}", {"title": "event", "date": "date"})),
        (("在日历上加一个{event}，{date} {time}", {"title": "event", "date": "date", "time": "time"}),),
        ("how many days are in a leap year?", "what's a good way to plan my week?",
         "how do I stop overbooking my calendar?", "which calendar app is best for families?"),
        ("怎么安排时间更高效？", "闰年有多少天？"),
    ),
    ClientTool(
        "reminder",
        (("set_reminder", "Set a reminder at a time", {"text": "text", "time": "time"}),
         ("create_reminder", "Reminds the user of something later", {"text": "what", "time": "when"})),
        {"text": S, "time": S}, ("text", "time"),
        (("remind me to {task} at {time}", {"text": "task", "time": "time"}),
         ("set a reminder at {time} to {task}", {"text": "task", "time": "time"}),
         ("don't let me forget to {task}, ping me at {time}", {"text": "task", "time": "time"})),
        (("{time}提醒我{zh_task}", {"text": "zh_task", "time": "time"}),
         ("设个提醒：{time}{zh_task}", {"text": "zh_task", "time": "time"})),
        ("any tips for remembering people's names?", "why do I keep forgetting things?",
         "how do reminder apps work?", "what's a good morning routine?"),
        ("怎么提高记忆力？", "为什么我总是忘事？"),
    ),
    ClientTool(
        "flight",
        (("get_flight_status", "Live status of a flight by flight number", {"flight": "flight_number"}),
         ("flight_info", "Departure, arrival and delays of a flight", {"flight": "flight"})),
        {"flight": S}, ("flight",),
        (("is flight {flight} on time?", {"flight": "flight"}), ("has {flight} landed yet?", {"flight": "flight"}),
         ("status of {flight} please", {"flight": "flight"}), ("is my flight {flight} delayed?", {"flight": "flight"})),
        (("{flight}航班准点吗？", {"flight": "flight"}), ("查一下{flight}的航班状态", {"flight": "flight"})),
        ("how do planes stay in the air?", "what should I pack in my carry-on?", "why are flights delayed so often?",
         "how early should I get to the airport for an international flight?"),
        ("坐飞机能带充电宝吗？", "国际航班要提前多久到机场？"),
    ),
    ClientTool(
        "order",
        (("track_order", "Shipping status of a customer order", {"order": "order_id"}),
         ("lookup_order", "Finds an order and where it is", {"order": "order_number"})),
        {"order": S}, ("order",),
        (("where is my order {order}?", {"order": "order"}), ("track order #{order}", {"order": "order"}),
         ("has order {order} shipped?", {"order": "order"})),
        (("我的订单{order}到哪了？", {"order": "order"}), ("查一下订单{order}发货了没有", {"order": "order"})),
        ("how do I write a complaint about a late delivery?", "what does 'out for delivery' mean?",
         "how long does standard shipping usually take?"),
        ("快递一般几天能到？", "怎么写一封投诉快递太慢的信？"),
    ),
    ClientTool(
        "web",
        (("search_web", "Search the internet for current information", {"query": "query"}),
         ("web_search", "Web search; returns titles and snippets", {"query": "q"})),
        {"query": S}, ("query",),
        (("search the web for {query}", {"query": "query"}), ("google {query} for me", {"query": "query"}),
         ("look up {query} online", {"query": "query"})),
        (("上网搜一下{zh_topic}的最新消息", {"query": "zh_topic"}),),
        ("what is photosynthesis?", "explain recursion with an example", "write a limerick about a cat",
         "what's 15% of 80?", "translate 'good night' into Spanish"),
        ("什么是光合作用？", "用一个例子解释递归"),
    ),
    ClientTool(
        "lights",
        (("turn_on_lights", "Turns on the lights in a room of the smart home", {"room": "room"}),
         ("lights_on", "Switch on a room's lights", {"room": "area"})),
        {"room": S}, ("room",),
        (("turn on the lights in the {room}", {"room": "room"}), ("{room} lights on please", {"room": "room"}),
         ("it's dark in the {room}, switch the lights on", {"room": "room"})),
        (("打开{zh_room}的灯", {"room": "zh_room"}), ("把{zh_room}的灯开一下", {"room": "zh_room"})),
        ("how do smart bulbs work?", "are LED lights cheaper to run?", "what color light helps you sleep?"),
        ("智能灯泡是怎么工作的？", "LED灯省电吗？"),
    ),
    ClientTool(
        "thermostat",
        (("set_thermostat", "Set the home thermostat to a temperature", {"temperature": "temperature"}),
         ("climate_set", "Target temperature of the heating", {"temperature": "target"})),
        {"temperature": N}, ("temperature",),
        (("set the thermostat to {degrees} degrees", {"temperature": "degrees"}),
         ("make it {degrees} degrees in here", {"temperature": "degrees"}),
         ("heating to {degrees} please", {"temperature": "degrees"})),
        (("把温度调到{degrees}度", {"temperature": "degrees"}), ("空调设成{degrees}度", {"temperature": "degrees"})),
        ("what's a comfortable room temperature for sleeping?", "does turning the heating down save money?"),
        ("睡觉时室温多少度合适？", "冬天暖气开多少度省电？"),
    ),
    ClientTool(
        "slack",
        (("send_slack_message", "Post a message to a Slack channel", {"channel": "channel", "text": "text"}),
         ("post_message", "Posts to a team chat channel", {"channel": "channel", "text": "message"})),
        {"channel": S, "text": S}, ("channel", "text"),
        (("post in #{channel} that {note}", {"channel": "channel", "text": "note"}),
         ("tell the {channel} channel {note}", {"channel": "channel", "text": "note"})),
        (("在{channel}频道里发一句：{zh_note}", {"channel": "channel", "text": "zh_note"}),),
        ("how do I mute a Slack channel?", "what's good etiquette for team chat?",
         "write a funny welcome message for a new colleague"),
        ("团队群聊有什么礼仪？",),
    ),
    ClientTool(
        "news",
        (("get_news", "Latest news headlines on a topic", {"topic": "topic"}),
         ("news_headlines", "Today's top stories, optionally about a subject", {"topic": "subject"})),
        {"topic": S}, ("topic",),
        (("what's the latest news on {topic}?", {"topic": "topic"}), ("today's headlines about {topic}",
                                                                       {"topic": "topic"}),
         ("any news about {topic} today?", {"topic": "topic"})),
        (("今天有什么关于{zh_topic}的新闻？", {"topic": "zh_topic"}),
         ("看看{zh_topic}的最新新闻", {"topic": "zh_topic"})),
        ("how can I tell if a news story is fake?", "what makes a good headline?",
         "summarize the idea of supply and demand"),
        ("怎么判断新闻是不是假的？", "好的新闻标题有什么特点？"),
    ),
    ClientTool(
        "booking",
        (("book_table", "Reserve a table at a restaurant", {"restaurant": "restaurant", "people": "party_size",
                                                            "time": "time"}),
         ("reserve_restaurant", "Makes a restaurant reservation", {"restaurant": "venue", "people": "guests",
                                                                   "time": "time"})),
        {"restaurant": S, "people": I, "time": S}, ("restaurant", "people"),
        (("book a table for {people} at {restaurant} at {time}", {"restaurant": "restaurant", "people": "people",
                                                                  "time": "time"}),
         ("reserve {restaurant} for {people} people tonight at {time}", {"restaurant": "restaurant",
                                                                         "people": "people", "time": "time"})),
        (("帮我在{restaurant}订一张{people}人的桌子，{time}", {"restaurant": "restaurant", "people": "people",
                                                           "time": "time"}),),
        ("what should I cook for dinner tonight?", "how much should I tip at a restaurant in the US?",
         "give me a recipe for carbonara"),
        ("今晚做什么菜好？", "在美国吃饭给多少小费？"),
    ),
    ClientTool(
        "ticket",
        (("create_ticket", "Open an issue in the team's tracker", {"title": "title"}),
         ("open_issue", "Files a bug or task in Jira", {"title": "summary"})),
        {"title": S}, ("title",),
        (("open a ticket: {bug}", {"title": "bug"}), ("file a bug that {bug}", {"title": "bug"}),
         ("create an issue saying {bug}", {"title": "bug"})),
        (),
        ("how do I write a good bug report?", "what's the difference between a bug and a feature request?",
         "explain agile sprints briefly"),
        ("怎么写一个好的缺陷报告？",),
    ),
)
BY_KEY = {t.key: t for t in CATALOG}
# tools whose requests another listed tool could serve: never a distractor for each other in "not listed" cases
OVERLAPS = {frozenset({"web", "news"}), frozenset({"lights", "thermostat"}), frozenset({"calendar", "reminder"}),
            frozenset({"email", "slack"})}


def _could_serve(tool: str, request: str) -> bool:
    """Whether `tool` could answer a request meant for `request` (a web search could answer most)."""
    return tool in (request, "web") or frozenset({tool, request}) in OVERLAPS


def definition(tool: ClientTool, rng: random.Random) -> tuple[dict, dict[str, str]]:
    """One spelling of the tool as a client would send it, and its canonical → real argument names."""
    name, description, names = rng.choice(tool.spellings)
    properties = {names[k]: tool.params[k] for k in names}
    return ({"name": name, "description": description,
             "parameters": {"type": "object", "properties": properties,
                            "required": [names[k] for k in tool.required]}}, names)


def fill_call(template: str, slots: dict[str, str], rng: random.Random) -> tuple[str, dict[str, object]]:
    """The message and the canonical arguments of a call template."""
    chosen: dict[str, tuple[str, object]] = {}
    for slot in re.findall(r"\{(\w+)\}", template):
        if slot in SLOT_VALUES:
            chosen[slot] = rng.choice(SLOT_VALUES[slot])
        else:
            text = rng.choice(FREE_TEXT[slot])
            chosen[slot] = (text, text)
    message = re.sub(r"\{(\w+)\}", lambda m: str(chosen[m.group(1)][0]), template)
    return message, {arg: chosen[slot][1] for arg, slot in slots.items()}


@dataclass
class ClientCase:
    tools: list[dict]
    message: str
    tool: str | None  # the real name of the tool to call, or None
    arguments: dict
    history: list[dict]
    lang: str
    kind: str  # call | near | unlisted | general | followup


class ClientCases:
    """Makes client-tool cases; `t` picks phrasings with the same train/eval split as the app's data."""

    def __init__(self, pick) -> None:  # noqa: ANN001 - Generator.t
        self.pick = pick

    def listing(self, rng: random.Random, target: ClientTool | None, avoid: str | None = None) -> list[tuple]:
        """The target (if any) and 0-2 distractors, shuffled: [(tool, definition, names)]."""
        others = [t for t in CATALOG if t is not target and (avoid is None or not _could_serve(t.key, avoid))]
        chosen = ([target] if target else []) + rng.sample(others, rng.choice([0, 1, 1, 2]) + (0 if target else 1))
        rng.shuffle(chosen)
        return [(t, *definition(t, rng)) for t in chosen]

    def call(self, rng: random.Random, split: str, lang: str, tool: ClientTool) -> tuple[str, dict]:
        pool = tool.call_zh if lang == "zh" and tool.call_zh else tool.call_en
        template, slots = self.pick(rng, split, f"client_{tool.key}_call_{lang}", list(pool))
        return fill_call(template, slots, rng)

    def make(self, rng: random.Random, split: str, lang: str, kind: str, app_message: str = "") -> ClientCase:
        tool = rng.choice([t for t in CATALOG if lang == "en" or t.call_zh])
        if kind == "call":
            listed = self.listing(rng, tool)
            message, canonical = self.call(rng, split, lang, tool)
            return self._case(listed, tool, message, canonical, [], lang, kind)
        if kind == "near":
            listed = self.listing(rng, tool)
            pool = tool.near_zh if lang == "zh" and tool.near_zh else tool.near_en
            message = self.pick(rng, split, f"client_{tool.key}_near_{lang}", list(pool))
            return ClientCase([d for _, d, _ in listed], message, None, {}, [], lang, kind)
        if kind == "unlisted":  # what a catalog tool would do, but only unrelated tools are listed
            listed = self.listing(rng, None, avoid=tool.key)
            message, _ = self.call(rng, split, lang, tool)
            return ClientCase([d for _, d, _ in listed], message, None, {}, [], lang, kind)
        if kind == "general":  # a request for one of the app's own tools, or plain chat: not the client's tools
            listed = self.listing(rng, None)
            return ClientCase([d for _, d, _ in listed], app_message, None, {}, [], lang, kind)
        return self.followup(rng, split, lang)

    def followup(self, rng: random.Random, split: str, lang: str) -> ClientCase:
        """After a call and its answer: the same call for another value, or a thank-you (no call)."""
        tool = rng.choice([t for t in CATALOG if t.follow_en])
        first, answer, follow = rng.choice(tool.follow_en)
        slot = "city" if "{city}" in first else "ticker"
        a, b = rng.sample(SLOT_VALUES[slot], 2)
        history = [{"role": "user", "content": first.replace(f"{{{slot}}}", str(a[0]))},
                   {"role": "assistant", "content": answer.replace(f"{{{slot}}}", str(a[0]))}]
        listed = self.listing(rng, tool)
        if rng.random() < 0.35:
            message = self.pick(rng, split, "client_thanks_en", ["thanks!", "great, that's all", "ok cool",
                                                                 "perfect, thank you", "got it"])
            return ClientCase([d for _, d, _ in listed], message, None, {}, history, "en", "followup")
        message = follow.replace(f"{{{slot}2}}", str(b[0]))
        return self._case(listed, tool, message, {next(iter(tool.params)): b[1]}, history, "en", "followup")

    @staticmethod
    def _case(listed: list[tuple], tool: ClientTool, message: str, canonical: dict, history: list[dict],
              lang: str, kind: str) -> ClientCase:
        _, spec, names = next(item for item in listed if item[0] is tool)
        arguments = {names[k]: v for k, v in canonical.items()}
        return ClientCase([d for _, d, _ in listed], message, spec["name"], arguments, history, lang, kind)
