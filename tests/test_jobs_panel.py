"""The Jobs tab: each user sees (and can cancel) only their own jobs, an admin all; bars and time left read right."""

import datetime as dt
from types import SimpleNamespace

from assistant.jobs import JobInfo, JobRunner
from assistant.ui.access import Access
from assistant.ui.jobs_panel import jobs_frame, progress_bar, time_left, visible_jobs
from assistant.users import UserStore


def info(status="running", progress=0.25, started_minutes_ago=1.0):
    started = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=started_minutes_ago)
    return JobInfo("j1", "sft", status, progress, "step 5/20", {}, {}, started, started, None)


def test_progress_bar_and_time_left():
    assert progress_bar(0.5, width=10) == "█████░░░░░ 50%"
    assert time_left(info(progress=0.25, started_minutes_ago=1.0)) == "3 min"  # a quarter in a minute: 3 to go
    assert time_left(info(progress=0.5, started_minutes_ago=0.5)) == "30 s"
    assert time_left(info(progress=0.01)) == ""  # too early to say
    assert time_left(info(status="waiting", progress=0.0)) == ""


def test_users_see_only_their_own_jobs_and_admins_all(services):
    store = UserStore(services.db)
    store.add("ann", "correct horse battery", role="user")
    store.add("root", "correct horse battery", role="admin")
    access = Access(store)
    runner = JobRunner(services.settings, services.db)
    mine = runner.start("sleep", {"steps": 1, "interval": 0.01}, lock_key="a", owner="user:ann")
    theirs = runner.start("sleep", {"steps": 1, "interval": 0.01}, lock_key="b", owner="user:bob")
    for job in (mine, theirs):
        runner.wait(job, timeout=60)
    as_ann = SimpleNamespace(username="ann")
    as_root = SimpleNamespace(username="root")
    assert [j.id for j in visible_jobs(services, access, as_ann)] == [mine]
    assert {j.id for j in visible_jobs(services, access, as_root)} == {mine, theirs}
    frame = jobs_frame(visible_jobs(services, access, as_ann))
    assert frame.iloc[0]["status"] == "succeeded" and frame.iloc[0]["progress"].endswith("100%")
