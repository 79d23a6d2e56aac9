#!/usr/bin/env python3
"""Generator for the look-alike retrieval eval (docs/ and questions.jsonl).
Each family = one template + 4 fact dicts + 16 hand-written questions."""
import json, os

OUT = os.path.dirname(os.path.abspath(__file__))
DOCS = os.path.join(OUT, "docs")

families = []

# ---------------------------------------------------------------- (a) Larkspur
A_TPL = """# Larkspur {ver} Release Notes

Larkspur {ver} (codename "{code}") was released on {date}. Larkspur is a command-line tool that synchronises build artifacts between object-storage buckets and local caches. This page lists the defaults, limits and flags that changed in this release. Read it before upgrading a shared CI runner.

## Changed defaults

- Larkspur now starts {workers} workers by default.
- Uploads are split into {chunk} chunks by default.
- Retry backoff starts at {backoff} and doubles on each failed attempt.
- The cache directory defaults to `{cachedir}`.
- The default log level is `{loglevel}`.
- The connection timeout defaults to {timeout}.

## Limits

- A single manifest may list at most {maxfiles} files.
- The maximum object size accepted by `larkspur push` is {maxobj}.
- Each API token may hold at most {sessions} concurrent sessions.

## Removed flags

- The `{removed}` flag has been removed; use `{replacement}` instead.
- {removed2}

## Compatibility

- The minimum supported Python version is {python}.
- {compat}

## Known issues

- {issue}

## Upgrade notes

{upgrade} If a job fails after the upgrade, run `larkspur doctor` and attach its output to your bug report.
"""

A_DOCS = [
    ("larkspur-2.1-release-notes.md", dict(
        ver="2.1", code="Heron", date="9 February 2023", workers="4", chunk="16 MiB",
        backoff="250 milliseconds", cachedir="~/.cache/larkspur", loglevel="warning",
        timeout="30 seconds", maxfiles="10,000", maxobj="5 GiB", sessions="3",
        removed="--no-verify", replacement="--verify=off",
        removed2="The `--quiet-upload` flag has been removed without a replacement.",
        python="3.8",
        compat="Manifests written by Larkspur 1.x are still read, but are rewritten in the 2.x format on the next push.",
        issue="On macOS, progress bars flicker when more than 2 pushes run in the same terminal.",
        upgrade="No configuration changes are needed when upgrading from 2.0."),
    ),
    ("larkspur-2.2-release-notes.md", dict(
        ver="2.2", code="Osprey", date="17 July 2023", workers="6", chunk="24 MiB",
        backoff="400 milliseconds", cachedir="~/.larkspur/cache", loglevel="info",
        timeout="45 seconds", maxfiles="25,000", maxobj="20 GiB", sessions="5",
        removed="--legacy-auth", replacement="--auth=token",
        removed2="The `--retry-forever` flag has been removed without a replacement.",
        python="3.9",
        compat="Manifests written by Larkspur 1.x are no longer read; convert them with `larkspur migrate` first.",
        issue="Pushing to buckets whose names contain dots can fail with a TLS hostname mismatch.",
        upgrade="Move any files from the old cache directory into the new one, or the first sync will re-download everything."),
    ),
    ("larkspur-2.3-release-notes.md", dict(
        ver="2.3", code="Kestrel", date="4 January 2024", workers="8", chunk="32 MiB",
        backoff="500 milliseconds", cachedir="/var/tmp/larkspur", loglevel="notice",
        timeout="60 seconds", maxfiles="50,000", maxobj="50 GiB", sessions="8",
        removed="--fast-hash", replacement="--hash=xxh3",
        removed2="The `--dry-run-json` flag has been removed without a replacement.",
        python="3.10",
        compat="Windows builds now require the Visual C++ 2022 runtime.",
        issue="The `larkspur prune` command may report a negative freed size when the cache is on a network drive.",
        upgrade="Runners that clean `/var/tmp` at boot will lose their cache; set `cache_dir` explicitly on such hosts."),
    ),
    ("larkspur-3.0-release-notes.md", dict(
        ver="3.0", code="Merlin", date="22 August 2024", workers="12", chunk="64 MiB",
        backoff="750 milliseconds", cachedir="$XDG_CACHE_HOME/larkspur", loglevel="error",
        timeout="90 seconds", maxfiles="200,000", maxobj="100 GiB", sessions="16",
        removed="--bucket-region", replacement="--region",
        removed2="The `--threads` flag has been removed; it was an alias of `--workers`.",
        python="3.11",
        compat="The 2.x manifest format is still read, but the `v1` HTTP API has been switched off.",
        issue="Memory use can exceed 3 GiB when a manifest lists more than 120,000 files.",
        upgrade="This is a major release: review custom plugins, because the plugin hook `on_chunk` was renamed to `on_part`."),
    ),
]

A_Q = [
    (0, "In Larkspur 2.1, how many workers are started by default?", "4 workers", "Larkspur now starts {workers} workers by default."),
    (0, "Which flag replaces --no-verify?", "--verify=off", "The `{removed}` flag has been removed; use `{replacement}` instead."),
    (0, "What was the biggest object the Heron release of Larkspur would accept on push?", "5 GiB", "The maximum object size accepted by `larkspur push` is {maxobj}."),
    (0, "When did Larkspur 2.1 come out?", "9 February 2023", 'Larkspur {ver} (codename "{code}") was released on {date}.'),
    (1, "What's the default upload chunk size in Larkspur 2.2?", "24 MiB", "Uploads are split into {chunk} chunks by default."),
    (1, "How many sessions can a single API token have open at once on Larkspur 2.2?", "5 concurrent sessions", "Each API token may hold at most {sessions} concurrent sessions."),
    (1, "In the release that dropped --legacy-auth, where does the cache live by default?", "~/.larkspur/cache", "The cache directory defaults to `{cachedir}`."),
    (1, "larkspur 2.2 default connection timeout", "45 seconds", "The connection timeout defaults to {timeout}."),
    (2, "In Larkspur 2.3, what is the maximum number of files one manifest can list?", "50,000", "A single manifest may list at most {maxfiles} files."),
    (2, "What initial retry backoff does the Kestrel release use?", "500 milliseconds", "Retry backoff starts at {backoff} and doubles on each failed attempt."),
    (2, "minimum python version larkspur 2.3", "3.10", "The minimum supported Python version is {python}."),
    (2, "The --fast-hash option is gone. What should I pass instead?", "--hash=xxh3", "The `{removed}` flag has been removed; use `{replacement}` instead."),
    (3, "How large can a single object be when pushing with Larkspur 3.0?", "100 GiB", "The maximum object size accepted by `larkspur push` is {maxobj}."),
    (3, "what's the default worker count in larkspur 3.0", "12 workers", "Larkspur now starts {workers} workers by default."),
    (3, "Which log level became the default in the August 2024 Larkspur release?", "error", "The default log level is `{loglevel}`."),
    (3, "If I don't configure a cache directory, where will Larkspur 3.0 put it?", "$XDG_CACHE_HOME/larkspur", "The cache directory defaults to `{cachedir}`."),
]
families.append(("a", "Larkspur release notes", A_TPL, A_DOCS, A_Q))

# ---------------------------------------------------------------- (b) office handbooks
B_TPL = """# Brightwater Analytics — {city} Office Handbook

Welcome to the {city} office at {address}. This handbook covers the everyday practicalities of working on site. For anything not covered here, contact the site manager, {manager}, at {email}.

## Opening hours

The building is open from {open} to {close} on weekdays. On Saturdays, {sat}. Badge access outside these hours must be requested at least {notice} in advance through the facilities portal.

## Getting here and parking

{parking}. Bicycle storage is in {bikes}. Please do not leave bicycles in the lobby.

## Wi-Fi

The staff Wi-Fi network is called {wifi}. Guests should use {guestwifi}, whose password is changed {rotate}. Ask reception for the current guest password.

## Safety

The fire assembly point is {assembly}. Fire drills take place on {drill}. The first-aid kit is kept {firstaid}, and the trained first aiders are listed on the noticeboard.

## Kitchen and meeting rooms

{kitchen} Meeting rooms are booked through the {booking} calendar, and bookings longer than {maxbook} need approval from the site manager.

## Post and deliveries

Parcels are held at {parcels} for up to {hold}, after which they are returned to the sender. Personal deliveries are allowed, but please keep them small.
"""

B_DOCS = [
    ("handbook-aberdeen.md", dict(
        city="Aberdeen", address="14 Marischal Lane", manager="Fiona Dalgleish", email="f.dalgleish@brightwater.example",
        open="07:30", close="19:00", sat="the office is closed",
        notice="24 hours",
        parking="The office has 18 reserved parking spaces in the basement of the Quayside car park, allocated by monthly lottery",
        bikes="the courtyard shed next to the loading bay", wifi="BW-Granite", guestwifi="BW-Granite-Guest",
        rotate="every Monday", assembly="the lawn in front of St Nicholas Kirk",
        drill="the first Tuesday of every quarter", firstaid="behind the reception desk",
        kitchen="The kitchen on the second floor has free tea, coffee and oat milk.",
        booking="Ptarmigan", maxbook="3 hours", parcels="the ground-floor post room", hold="5 working days")),
    ("handbook-lyon.md", dict(
        city="Lyon", address="27 Quai Saint-Vincent", manager="Amélie Roussel", email="a.roussel@brightwater.example",
        open="08:00", close="18:30", sat="the office opens from 09:00 to 13:00",
        notice="48 hours",
        parking="There is no on-site parking; staff are reimbursed for a monthly TCL transit pass up to 65 euros",
        bikes="the locked cage on level -1", wifi="BW-Saone", guestwifi="BW-Saone-Invite",
        rotate="on the first day of each month", assembly="the square in front of the Saint-Paul station",
        drill="the second Wednesday of March and September", firstaid="in the cupboard beside the third-floor lifts",
        kitchen="The kitchen on the third floor has an espresso machine; please descale it on Fridays.",
        booking="Fourvière", maxbook="4 hours", parcels="the concierge desk", hold="7 calendar days")),
    ("handbook-wellington.md", dict(
        city="Wellington", address="3 Kumutoto Street", manager="Rawiri Tane", email="r.tane@brightwater.example",
        open="07:00", close="18:00", sat="the office is closed",
        notice="12 hours",
        parking="Staff may use the 6 visitor bays at the rear of the building, which can be booked one day in advance",
        bikes="the racks under the external stairwell", wifi="BW-Harbour", guestwifi="BW-Harbour-Visitor",
        rotate="every second Friday", assembly="the corner of Kumutoto Street and Customhouse Quay",
        drill="the last Thursday of February, June and October", firstaid="on the wall next to the kitchen door",
        kitchen="The kitchen on the ground floor has a filtered water tap and a shared fruit bowl.",
        booking="Tūī", maxbook="2 hours", parcels="reception", hold="10 working days")),
    ("handbook-rotterdam.md", dict(
        city="Rotterdam", address="88 Wijnhaven", manager="Joost van der Meer", email="j.vandermeer@brightwater.example",
        open="08:30", close="20:00", sat="the office opens from 10:00 to 16:00",
        notice="36 hours",
        parking="Staff get a 50% discount at the Markthal underground garage by showing their badge at the exit",
        bikes="the basement bike room, reached by the ramp on the Posthoornstraat side", wifi="BW-Maas", guestwifi="BW-Maas-Gast",
        rotate="every Wednesday", assembly="the Wijnhaven footbridge",
        drill="the first Monday of April and November", firstaid="in the red cabinet opposite meeting room Erasmus",
        kitchen="The kitchen on the fourth floor has a dishwasher that must be emptied by whoever finds it clean.",
        booking="Lighthouse", maxbook="5 hours", parcels="the mailroom on the first floor", hold="14 calendar days")),
]

B_Q = [
    (0, "Who is the site manager of the Aberdeen office?", "Fiona Dalgleish", "For anything not covered here, contact the site manager, {manager}, at {email}."),
    (0, "What time does the Aberdeen building close on weekdays?", "19:00", "The building is open from {open} to {close} on weekdays."),
    (0, "If the fire alarm goes off in Aberdeen, where do we gather?", "the lawn in front of St Nicholas Kirk", "The fire assembly point is {assembly}."),
    (0, "How are parking spaces handed out at the Marischal Lane office?", "by monthly lottery", "{parking}."),
    (1, "What is the staff Wi-Fi network called in the Lyon office?", "BW-Saone", "The staff Wi-Fi network is called {wifi}."),
    (1, "Can I work at the Lyon office on a Saturday, and during which hours?", "from 09:00 to 13:00", "On Saturdays, {sat}."),
    (1, "How much of a transit pass does Brightwater reimburse in Lyon each month?", "65 euros", "{parking}."),
    (1, "Who runs the office on Quai Saint-Vincent?", "Amélie Roussel", "For anything not covered here, contact the site manager, {manager}, at {email}."),
    (2, "wellington office fire assembly point", "the corner of Kumutoto Street and Customhouse Quay", "The fire assembly point is {assembly}."),
    (2, "How far in advance do I need to request after-hours badge access in Wellington?", "12 hours", "Badge access outside these hours must be requested at least {notice} in advance through the facilities portal."),
    (2, "At the office managed by Rawiri Tane, how often does the guest Wi-Fi password change?", "every second Friday", "Guests should use {guestwifi}, whose password is changed {rotate}."),
    (2, "How long will the Wellington office keep a parcel before sending it back?", "10 working days", "Parcels are held at {parcels} for up to {hold}, after which they are returned to the sender."),
    (3, "When are fire drills held at the Rotterdam office?", "the first Monday of April and November", "Fire drills take place on {drill}."),
    (3, "Is there a parking deal for Rotterdam staff?", "a 50% discount at the Markthal underground garage", "{parking}."),
    (3, "Which calendar do I use to book a meeting room in Rotterdam?", "Lighthouse", "Meeting rooms are booked through the {booking} calendar, and bookings longer than {maxbook} need approval from the site manager."),
    (3, "Where is the first-aid kit at the Wijnhaven office?", "in the red cabinet opposite meeting room Erasmus", "The first-aid kit is kept {firstaid}, and the trained first aiders are listed on the noticeboard."),
]
families.append(("b", "Office handbooks", B_TPL, B_DOCS, B_Q))

# ---------------------------------------------------------------- (c) drone spec sheets
C_TPL = """# Aldergrove Vireo {model} — Product Specification Sheet

The Vireo {model} is a {klass} quadcopter designed for {use}. All figures below were measured by Aldergrove Robotics under standard test conditions (20 °C, sea level, no wind). Specifications may change without notice.

## Power

- Battery: {cells}-cell LiPo, {mah}, {wh}.
- Maximum flight time: {flight}.
- Charging time (0–100%): {charge} with the included {charger} charger.

## Physical

- Take-off weight: {weight}.
- Dimensions (unfolded, without propellers): {dims}.
- Maximum payload: {payload}.

## Flight and link

- Maximum transmission range: {range} (FCC), {rangece} (CE).
- Top speed: {speed}.
- Wind resistance: up to {wind}.
- Operating temperature: {tmin} to {tmax}.

## Camera and storage

- Sensor: {sensor}.
- Video: up to {video}.
- Internal storage: {storage}; microSD cards up to {sd} are supported.

## Ports

- The airframe has 1 USB-C port for data and firmware updates.
- The top shell provides {ports} for lights, speakers or sensors.

## Price and warranty

- Launch price: {price} for the drone, one battery and the remote controller.
- Standard warranty: {warranty}, extendable through Aldergrove Care.
"""

C_DOCS = [
    ("vireo-200-spec-sheet.md", dict(
        model="200", klass="compact", use="hobby photography", cells="2", mah="2450 mAh", wh="17.6 Wh",
        flight="28 minutes", charge="70 minutes", charger="30 W", weight="249 g", dims="182 × 254 × 72 mm",
        payload="50 g", range="6 km", rangece="4 km", speed="57 km/h", wind="8.5 m/s", tmin="-10 °C", tmax="40 °C",
        sensor="1/2-inch 12 MP CMOS", video="4K at 30 fps", storage="8 GB", sd="256 GB",
        ports="no accessory ports", price="US$ 449", warranty="12 months")),
    ("vireo-250-spec-sheet.md", dict(
        model="250", klass="compact", use="travel and vlogging", cells="3", mah="3100 mAh", wh="34.4 Wh",
        flight="34 minutes", charge="80 minutes", charger="45 W", weight="295 g", dims="195 × 262 × 78 mm",
        payload="80 g", range="10 km", rangece="6 km", speed="64 km/h", wind="10.7 m/s", tmin="-10 °C", tmax="40 °C",
        sensor="1/1.3-inch 48 MP CMOS", video="4K at 60 fps", storage="16 GB", sd="512 GB",
        ports="1 accessory port", price="US$ 649", warranty="12 months")),
    ("vireo-300-spec-sheet.md", dict(
        model="300", klass="mid-size", use="survey and inspection work", cells="4", mah="4280 mAh", wh="65.9 Wh",
        flight="41 minutes", charge="95 minutes", charger="65 W", weight="895 g", dims="276 × 348 × 108 mm",
        payload="350 g", range="15 km", rangece="8 km", speed="72 km/h", wind="12 m/s", tmin="-20 °C", tmax="45 °C",
        sensor="1-inch 20 MP CMOS", video="5.1K at 50 fps", storage="32 GB", sd="1 TB",
        ports="2 accessory ports", price="US$ 1,299", warranty="18 months")),
    ("vireo-400-spec-sheet.md", dict(
        model="400", klass="heavy-lift", use="industrial mapping and light cargo", cells="6", mah="5900 mAh", wh="130.5 Wh",
        flight="47 minutes", charge="120 minutes", charger="100 W", weight="1,740 g", dims="412 × 505 × 146 mm",
        payload="1,200 g", range="20 km", rangece="12 km", speed="81 km/h", wind="15 m/s", tmin="-20 °C", tmax="50 °C",
        sensor="4/3-inch 20 MP CMOS", video="6K at 30 fps", storage="64 GB", sd="1 TB",
        ports="4 accessory ports", price="US$ 2,899", warranty="24 months")),
]

C_Q = [
    (0, "How much does the Vireo 200 weigh at take-off?", "249 g", "Take-off weight: {weight}."),
    (0, "What did the Vireo 200 cost at launch?", "US$ 449", "Launch price: {price} for the drone, one battery and the remote controller."),
    (0, "For the Aldergrove drone aimed at hobby photography, how long does a full recharge take?", "70 minutes", "Charging time (0–100%): {charge} with the included {charger} charger."),
    (0, "vireo 200 max range under CE rules", "4 km (CE)", "Maximum transmission range: {range} (FCC), {rangece} (CE)."),
    (1, "How long can the Vireo 250 stay in the air on one battery?", "34 minutes", "Maximum flight time: {flight}."),
    (1, "What's the battery capacity of the Vireo 250 in mAh?", "3100 mAh", "Battery: {cells}-cell LiPo, {mah}, {wh}."),
    (1, "What is the largest microSD card the travel and vlogging Vireo accepts?", "512 GB", "Internal storage: {storage}; microSD cards up to {sd} are supported."),
    (1, "Top speed of the Vireo 250?", "64 km/h", "Top speed: {speed}."),
    (2, "How many accessory ports does the Vireo 300 have on its top shell?", "2 accessory ports", "The top shell provides {ports} for lights, speakers or sensors."),
    (2, "Up to what wind speed can the Vireo 300 fly?", "12 m/s", "Wind resistance: up to {wind}."),
    (2, "What is the FCC transmission range of Aldergrove's survey and inspection quadcopter?", "15 km", "Maximum transmission range: {range} (FCC), {rangece} (CE)."),
    (2, "How long is the standard warranty on a Vireo 300?", "18 months", "Standard warranty: {warranty}, extendable through Aldergrove Care."),
    (3, "What is the maximum payload of the Vireo 400?", "1,200 g", "Maximum payload: {payload}."),
    (3, "How heavy is the Vireo 400 at take-off?", "1,740 g", "Take-off weight: {weight}."),
    (3, "Which camera sensor does the heavy-lift mapping Vireo use?", "4/3-inch 20 MP CMOS", "Sensor: {sensor}."),
    (3, "vireo 400 price", "US$ 2,899", "Launch price: {price} for the drone, one battery and the remote controller."),
]
families.append(("c", "Drone spec sheets", C_TPL, C_DOCS, C_Q))

# ---------------------------------------------------------------- (d) meeting minutes
D_TPL = """# Northfield Community Library Trust — Facilities Committee Minutes, {date}

{chairline} Minute-taker: {scribe}. Present: {present}. Apologies: {apologies}.

Meeting opened at {start} in the {room}.

## 1. Previous minutes

The minutes of {prev} were approved {approval}.

## 2. Treasurer's report

The treasurer reported a facilities balance of {balance} at the end of {month}. {budgetnote}

## 3. Discussion

{discussion}

## 4. Decisions

- {dec1}
- {dec2}

## 5. Actions

- {act1}
- {act2}
- {act3}

## 6. Any other business

{aob}

Meeting closed at {end}. The next meeting is scheduled for {next}.
"""

D_DOCS = [
    ("minutes-2024-03-12.md", dict(
        date="12 March 2024", chairline="Chair: Margaret Osei.", scribe="Priya Nandakumar",
        present="Margaret Osei, Tomás Herrera, Daniel Fairweather, Priya Nandakumar, Gareth Lyle", apologies="none",
        start="18:30", room="Reading Room", prev="13 February 2024", approval="without amendment",
        balance="£38,450", month="February", budgetnote="Heating costs were 12% above forecast because of the cold January.",
        discussion="The roofing survey by Hallam & Pike found water ingress above the children's section. Members agreed the repair could not wait until the autumn.",
        dec1="The committee approved the Hallam & Pike roof repair quote of £14,200.",
        dec2="The committee decided to extend Saturday opening to 17:00 from 6 April 2024.",
        act1="Daniel Fairweather will obtain two further roofing quotes for comparison by 29 March 2024.",
        act2="Priya Nandakumar will draft the volunteer rota for the spring book sale by 22 March 2024.",
        act3="Gareth Lyle will check the warranty on the 2019 boiler by 5 April 2024.",
        aob="A member of the public has offered to donate a piano; the committee will discuss it once the roof is fixed.",
        end="20:05", next="9 April 2024")),
    ("minutes-2024-04-09.md", dict(
        date="9 April 2024", chairline="Chair: Tomás Herrera (vice-chair), in Margaret Osei's absence.", scribe="Priya Nandakumar",
        present="Tomás Herrera, Daniel Fairweather, Priya Nandakumar, Gareth Lyle", apologies="Margaret Osei",
        start="18:45", room="Garden Room", prev="12 March 2024", approval="with one correction to the boiler item",
        balance="£31,120", month="March", budgetnote="The first roof repair instalment has been paid.",
        discussion="Two further roofing quotes were received, both higher than Hallam & Pike. Members discussed the poor lighting on the ground floor, which several readers have complained about.",
        dec1="The committee decided to replace the ground-floor lighting with LED panels at a cost of £6,780.",
        dec2="The committee agreed to move the spring book sale to 18 May 2024.",
        act1="Priya Nandakumar will confirm the lighting contractor by 19 April 2024.",
        act2="Gareth Lyle will update the fire risk assessment by 30 April 2024.",
        act3="Daniel Fairweather will publish the new Saturday hours on the website by 12 April 2024.",
        aob="The piano donation was declined because there is no space for it in the hall.",
        end="19:50", next="14 May 2024")),
    ("minutes-2024-05-14.md", dict(
        date="14 May 2024", chairline="Chair: Margaret Osei.", scribe="Gareth Lyle",
        present="Margaret Osei, Tomás Herrera, Daniel Fairweather, Gareth Lyle", apologies="Priya Nandakumar",
        start="19:00", room="Garden Room", prev="9 April 2024", approval="without amendment",
        balance="£27,905", month="April", budgetnote="The LED lighting deposit of £2,000 has been paid.",
        discussion="Hallam & Pike confirmed the roof repair needs the building empty for one full day. The old stacking chairs in the hall are broken or unsafe.",
        dec1="The committee approved the purchase of 40 new stacking chairs from Ellery Office Supply for £3,160.",
        dec2="The committee decided to close the building on 24 June 2024 for the roof repair.",
        act1="Daniel Fairweather will notify library users of the closure by 7 June 2024.",
        act2="Tomás Herrera will apply to the Northfield Heritage Fund for a grant of £5,000 by 31 May 2024.",
        act3="Gareth Lyle will arrange collection of the old chairs by 21 June 2024.",
        aob="The spring book sale preparations are on track.",
        end="20:20", next="11 June 2024")),
    ("minutes-2024-06-11.md", dict(
        date="11 June 2024", chairline="Chair: Margaret Osei.", scribe="Priya Nandakumar",
        present="Margaret Osei, Tomás Herrera, Priya Nandakumar, Gareth Lyle", apologies="Daniel Fairweather",
        start="18:15", room="Reading Room", prev="14 May 2024", approval="with a correction to the chair supplier's name",
        balance="£24,300", month="May", budgetnote="The spring book sale raised £1,845 for the facilities fund.",
        discussion="Wheelchair users reported that the only ramp, at the main entrance, is too steep. Members also discussed how many keys to the building are in circulation.",
        dec1="The committee decided to install a second accessible ramp at the east entrance, with the budget capped at £9,500.",
        dec2="The committee agreed to adopt a new key-holder policy limiting keys to 6 named volunteers.",
        act1="Gareth Lyle will collect quotes for the east ramp by 5 July 2024.",
        act2="Priya Nandakumar will reissue keys under the new policy by 28 June 2024.",
        act3="Tomás Herrera will report back on the Heritage Fund application by 9 July 2024.",
        aob="Thanks were recorded to the volunteers who ran the book sale.",
        end="19:40", next="9 July 2024")),
]

D_Q = [
    (0, "How much was the roof repair quote approved by the Facilities Committee in March 2024?", "£14,200", "The committee approved the Hallam & Pike roof repair quote of £14,200."),
    (0, "By what date was Daniel Fairweather supposed to get extra roofing quotes?", "29 March 2024", "Daniel Fairweather will obtain two further roofing quotes for comparison by 29 March 2024."),
    (0, "What facilities balance did the treasurer report at the end of February?", "£38,450", "The treasurer reported a facilities balance of {balance} at the end of {month}."),
    (0, "From when does the library stay open until 17:00 on Saturdays?", "6 April 2024", "The committee decided to extend Saturday opening to 17:00 from 6 April 2024."),
    (1, "Who chaired the Facilities Committee meeting on 9 April 2024?", "Tomás Herrera", "{chairline}"),
    (1, "What will the new LED panels on the ground floor cost?", "£6,780", "The committee decided to replace the ground-floor lighting with LED panels at a cost of £6,780."),
    (1, "The spring book sale was rescheduled — to which date?", "18 May 2024", "The committee agreed to move the spring book sale to 18 May 2024."),
    (1, "Who owns the action to update the fire risk assessment?", "Gareth Lyle", "Gareth Lyle will update the fire risk assessment by 30 April 2024."),
    (2, "How many stacking chairs did the committee decide to buy?", "40 new stacking chairs", "The committee approved the purchase of 40 new stacking chairs from Ellery Office Supply for £3,160."),
    (2, "On which day will the library be closed for the roof work?", "24 June 2024", "The committee decided to close the building on 24 June 2024 for the roof repair."),
    (2, "How big is the grant the trust is requesting from the Northfield Heritage Fund?", "£5,000", "Tomás Herrera will apply to the Northfield Heritage Fund for a grant of £5,000 by 31 May 2024."),
    (2, "What time did the 14 May 2024 Facilities Committee meeting start?", "19:00", "Meeting opened at {start} in the {room}."),
    (3, "What is the budget cap for the second accessible ramp?", "£9,500", "The committee decided to install a second accessible ramp at the east entrance, with the budget capped at £9,500."),
    (3, "Under the new key-holder policy, how many people may hold keys?", "6 named volunteers", "The committee agreed to adopt a new key-holder policy limiting keys to 6 named volunteers."),
    (3, "When is the Facilities Committee meeting after the June 2024 one?", "9 July 2024", "The next meeting is scheduled for {next}."),
    (3, "What facilities balance was reported at the June 2024 meeting?", "£24,300", "The treasurer reported a facilities balance of {balance} at the end of {month}."),
]
families.append(("d", "Committee meeting minutes", D_TPL, D_DOCS, D_Q))

# ---------------------------------------------------------------- (e) recipes
E_TPL = """# Harbour Street Kitchen: {title}

Serves {serves}. Active time {active} minutes; total time {total}.

{intro}

## Ingredients

- {flour}
- {water} lukewarm water ({watertemp})
- {yeast} instant yeast
- {salt} fine sea salt
- {oil} olive oil, divided
- {topping}

## Method

1. Whisk the yeast into the water and leave it for {bloom}.
2. Add the flour and salt and mix until no dry patches remain.
3. {rise}
4. Oil a {pan} tin with {panoil} of the olive oil and stretch the dough to the corners.
5. Cover and proof for {proof}, until puffy and jiggly.
6. Dimple the dough with oiled fingers, drizzle over the remaining oil and scatter the topping.
7. Bake at {temp} ({fan} fan) for {bake}, until deep golden.
8. Cool in the tin for {cool} before slicing.

## Notes

{notes}
"""

E_DOCS = [
    ("focaccia-classic.md", dict(
        title="Classic Focaccia", serves="8", active="25", total="3 hours",
        intro="This is the house focaccia we bake every morning: a soft, open crumb with a crisp, olive-oil-fried base. It is the starting point for every other variation on this site.",
        flour="500 g strong bread flour", water="400 ml", watertemp="35 °C", yeast="7 g", salt="10 g", oil="60 ml",
        topping="1 tsp flaky salt", bloom="5 minutes",
        rise="Cover and let the dough rise at room temperature for 90 minutes, folding it twice.",
        pan="23 × 33 cm", panoil="30 ml", proof="45 minutes", temp="220 °C", fan="200 °C", bake="22 minutes",
        cool="10 minutes", notes="Leftover focaccia keeps for 2 days wrapped in a tea towel. Refresh slices in a hot oven for 4 minutes.")),
    ("focaccia-rosemary-sea-salt.md", dict(
        title="Rosemary and Sea Salt Focaccia", serves="6", active="20", total="2 hours 30 minutes",
        intro="A slightly smaller, saltier version of our classic bread, heavy on rosemary. Pick the rosemary leaves just before baking so they stay green.",
        flour="400 g strong bread flour", water="330 ml", watertemp="38 °C", yeast="5 g", salt="8 g", oil="75 ml",
        topping="2 sprigs of rosemary and 1½ tsp flaky salt", bloom="8 minutes",
        rise="Cover and let the dough rise at room temperature for 75 minutes, folding it once.",
        pan="20 × 30 cm", panoil="35 ml", proof="40 minutes", temp="230 °C", fan="210 °C", bake="18 minutes",
        cool="5 minutes", notes="Press the rosemary into the dimples so the leaves do not burn. This version is best eaten on the day it is baked.")),
    ("focaccia-overnight.md", dict(
        title="Overnight Cold-Proof Focaccia", serves="10", active="30", total="22 hours",
        intro="A long, cold fermentation gives this focaccia bigger bubbles and a deeper, slightly tangy flavour. Start it the evening before you want to bake.",
        flour="600 g strong bread flour", water="480 ml", watertemp="18 °C", yeast="3 g", salt="12 g", oil="80 ml",
        topping="12 halved cherry tomatoes and 1 tsp flaky salt", bloom="12 minutes",
        rise="Cover and refrigerate the dough for 18 hours, then leave it at room temperature for 2 hours.",
        pan="25 × 38 cm", panoil="40 ml", proof="60 minutes", temp="240 °C", fan="220 °C", bake="20 minutes",
        cool="15 minutes", notes="The dough can stay in the fridge for up to 36 hours in total. Leftovers keep for 3 days in an airtight tin.")),
    ("focaccia-whole-wheat.md", dict(
        title="Whole Wheat Focaccia", serves="8", active="25", total="3 hours 30 minutes",
        intro="Half the white flour is swapped for whole wheat flour, which makes a nuttier, denser bread that needs a little more water and a gentler oven.",
        flour="250 g strong bread flour and 250 g whole wheat flour", water="420 ml", watertemp="32 °C", yeast="8 g", salt="11 g", oil="70 ml",
        topping="1 tbsp sesame seeds and 1 tsp flaky salt", bloom="6 minutes",
        rise="Cover and let the dough rise at room temperature for 2 hours, folding it three times.",
        pan="23 × 33 cm", panoil="45 ml", proof="50 minutes", temp="210 °C", fan="190 °C", bake="26 minutes",
        cool="20 minutes", notes="Whole wheat flour absorbs water slowly, so let the mixed dough rest for 20 minutes before the first fold. Leftovers keep for 1 day.")),
]

E_Q = [
    (0, "What oven temperature does the classic focaccia need (conventional oven)?", "220 °C", "Bake at {temp} ({fan} fan) for {bake}, until deep golden."),
    (0, "How much water goes into the classic focaccia?", "400 ml", "- {water} lukewarm water ({watertemp})"),
    (0, "How long should the classic focaccia cool in the tin?", "10 minutes", "Cool in the tin for {cool} before slicing."),
    (0, "How long do leftovers of the plain house focaccia keep?", "2 days", "Leftover focaccia keeps for 2 days wrapped in a tea towel."),
    (1, "How long do I bake the rosemary and sea salt focaccia?", "18 minutes", "Bake at {temp} ({fan} fan) for {bake}, until deep golden."),
    (1, "How much yeast is in the rosemary focaccia?", "5 g", "- {yeast} instant yeast"),
    (1, "What tin size does the rosemary version use?", "20 × 30 cm", "Oil a {pan} tin with {panoil} of the olive oil and stretch the dough to the corners."),
    (1, "How many people does the rosemary and sea salt focaccia feed?", "Serves 6", "Serves {serves}."),
    (2, "How long does the overnight focaccia dough stay in the fridge?", "18 hours", "{rise}"),
    (2, "fan oven temperature for the overnight cold-proof focaccia", "220 °C", "Bake at {temp} ({fan} fan) for {bake}, until deep golden."),
    (2, "How much salt goes into the cold-proofed focaccia?", "12 g", "- {salt} fine sea salt"),
    (2, "What temperature should the water be for the focaccia I start the evening before?", "18 °C", "- {water} lukewarm water ({watertemp})"),
    (3, "How much whole wheat flour is in the whole wheat focaccia?", "250 g", "- {flour}"),
    (3, "At what temperature is the whole wheat focaccia baked in a conventional oven?", "210 °C", "Bake at {temp} ({fan} fan) for {bake}, until deep golden."),
    (3, "What goes on top of the whole wheat focaccia besides salt?", "1 tbsp sesame seeds", "- {topping}"),
    (3, "How long is the second proof for the nuttier whole-wheat focaccia?", "50 minutes", "Cover and proof for {proof}, until puffy and jiggly."),
]
families.append(("e", "Focaccia recipe variations", E_TPL, E_DOCS, E_Q))

# ---------------------------------------------------------------- (f) Chinese office guides
F_TPL = """# 星澜财产保险{city}分公司客户服务中心办事指南

本指南适用于前往{city}分公司客户服务中心现场办理业务的客户，内容包括地址、营业时间、联系方式和办理须知。

## 一、服务地址

{city}分公司客户服务中心位于{address}。最近的地铁站是{metro}，从{exit}出口步行约{walk}分钟即可到达。

## 二、营业时间

周一至周五营业时间为{weekday}。周六{sat}。法定节假日暂停营业，节假日期间如遇紧急理赔，请拨打理赔专线。

## 三、联系方式

客服热线：{phone}。理赔专线：{claim}。传真：{fax}。

## 四、办理须知

办理车险理赔时，请携带身份证、行驶证和事故认定书原件。单笔理赔金额在{limit}以下的案件可当场办结。现场取号每日截止时间为{cutoff}。委托他人办理的，还需提供经签字的授权委托书。

## 五、停车说明

{parking}

## 六、负责人与投诉

中心主任为{director}。投诉请拨打{complaint}或发送邮件至{email}，我们将在{reply}内回复。

## 七、温馨提示

{tip}
"""

F_DOCS = [
    ("banshi-zhinan-chengdu.md", dict(
        city="成都", address="成都市武侯区锦绣路88号天府金融大厦3楼", metro="地铁1号线锦城广场站", exit="B", walk="5",
        weekday="上午9:00至下午5:30", sat="上午9:00至12:00仅办理理赔业务", phone="028-8651-2270", claim="028-8651-2299",
        fax="028-8651-2201", limit="5000元", cutoff="下午4:30",
        parking="天府金融大厦地下停车场可为客户提供1小时免费停车，请在前台盖章。",
        director="刘静怡", complaint="028-8651-2288", email="cd-kefu@xinglan-ins.example", reply="3个工作日",
        tip="每月最后一个工作日下午进行系统维护，届时暂停办理保单变更业务。")),
    ("banshi-zhinan-hangzhou.md", dict(
        city="杭州", address="杭州市西湖区文三路217号星澜大厦1楼", metro="地铁2号线学院路站", exit="C", walk="8",
        weekday="上午8:30至下午5:00", sat="全天不营业", phone="0571-8723-4410", claim="0571-8723-4466",
        fax="0571-8723-4401", limit="3000元", cutoff="下午4:00",
        parking="星澜大厦没有客户停车位，建议停放在对面的文三数码城停车场，每小时收费8元。",
        director="陈伟明", complaint="0571-8723-4488", email="hz-kefu@xinglan-ins.example", reply="5个工作日",
        tip="中心一楼设有自助服务机，可自助打印保单和缴费发票。")),
    ("banshi-zhinan-xian.md", dict(
        city="西安", address="西安市雁塔区高新路56号曲江国际中心12楼", metro="地铁6号线科技路站", exit="A", walk="6",
        weekday="上午9:00至下午6:00", sat="上午9:30至下午3:00正常营业", phone="029-8832-0917", claim="029-8832-0950",
        fax="029-8832-0902", limit="8000元", cutoff="下午5:00",
        parking="曲江国际中心地下二层设有10个客户专用车位，可免费停车2小时。",
        director="王晓东", complaint="029-8832-0988", email="xa-kefu@xinglan-ins.example", reply="2个工作日",
        tip="每周三上午有专人提供老年客户一对一协助服务，请提前一天电话预约。")),
    ("banshi-zhinan-qingdao.md", dict(
        city="青岛", address="青岛市市南区香港中路61号海悦中心5楼", metro="地铁3号线五四广场站", exit="D", walk="3",
        weekday="上午8:30至下午5:30", sat="上午9:00至下午3:30正常营业", phone="0532-8591-3360", claim="0532-8591-3388",
        fax="0532-8591-3301", limit="10000元", cutoff="下午4:45",
        parking="客户可使用海悦中心地面停车场，凭业务回执可免费停车90分钟。",
        director="赵海燕", complaint="0532-8591-3399", email="qd-kefu@xinglan-ins.example", reply="4个工作日",
        tip="台风预警期间，中心可能临时调整营业时间，请以官方公众号通知为准。")),
]

F_Q = [
    (0, "星澜保险成都分公司的客服热线是多少？", "028-8651-2270", "客服热线：{phone}。"),
    (0, "成都的客户服务中心周六开门吗？能办什么业务？", "上午9:00至12:00仅办理理赔业务", "周六{sat}。"),
    (0, "在成都中心办车险理赔，多少钱以下可以当场办完？", "5000元", "单笔理赔金额在{limit}以下的案件可当场办结。"),
    (0, "成都分公司客服中心的主任叫什么名字？", "刘静怡", "中心主任为{director}。"),
    (1, "杭州分公司客户服务中心具体在什么地方？", "杭州市西湖区文三路217号星澜大厦1楼", "{city}分公司客户服务中心位于{address}。"),
    (1, "去杭州的服务中心坐地铁应该在哪一站下车？", "地铁2号线学院路站", "最近的地铁站是{metro}，从{exit}出口步行约{walk}分钟即可到达。"),
    (1, "开车去杭州中心办事，停车怎么收费？", "每小时收费8元", "{parking}"),
    (1, "杭州客服中心每天几点之后就不能现场取号了？", "下午4:00", "现场取号每日截止时间为{cutoff}。"),
    (2, "星澜保险西安分公司的理赔专线电话是多少？", "029-8832-0950", "理赔专线：{claim}。"),
    (2, "西安客服中心工作日营业到几点？", "下午6:00", "周一至周五营业时间为{weekday}。"),
    (2, "高新路那家服务中心的客户车位可以免费停多长时间？", "2小时", "{parking}"),
    (2, "在曲江国际中心办理理赔，当场办结的金额上限是多少？", "8000元", "单笔理赔金额在{limit}以下的案件可当场办结。"),
    (3, "青岛分公司客户服务中心的负责人是谁？", "赵海燕", "中心主任为{director}。"),
    (3, "坐地铁到五四广场站后，从哪个出口出去离青岛服务中心最近？", "D出口", "最近的地铁站是{metro}，从{exit}出口步行约{walk}分钟即可到达。"),
    (3, "对青岛中心的服务不满意，投诉邮件发到哪里？", "qd-kefu@xinglan-ins.example", "投诉请拨打{complaint}或发送邮件至{email}，我们将在{reply}内回复。"),
    (3, "青岛中心收到投诉后多久会回复？", "4个工作日", "投诉请拨打{complaint}或发送邮件至{email}，我们将在{reply}内回复。"),
]
families.append(("f", "Chinese branch-office service guides (办事指南)", F_TPL, F_DOCS, F_Q))

# ---------------------------------------------------------------- write
def main():
    n = 0
    rows = []
    for fam, _name, tpl, docs, qs in families:
        for fname, facts in docs:
            with open(os.path.join(DOCS, fname), "w", encoding="utf-8") as f:
                f.write(tpl.format(**facts))
        for di, q, ans, ev in qs:
            n += 1
            fname, facts = docs[di]
            evidence = ev.format(**facts).lstrip("- ").strip()
            rows.append({
                "id": f"la-{n:03d}", "question": q, "doc": fname, "answer": ans,
                "evidence": evidence, "lang": "zh" if fam == "f" else "en",
                "split": "dev" if n % 3 == 0 else "test", "family": fam,
            })
    with open(os.path.join(OUT, "questions.jsonl"), "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")

if __name__ == "__main__":
    main()
