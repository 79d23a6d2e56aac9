"""First run: while the model loads, the footer says for how long so far and how long it took last time."""

from assistant.startup import LAST_LOAD_FILE, StartupStatus, warm_up


def test_loading_shows_elapsed_time_and_the_last_load_time(services):
    status = StartupStatus()
    warm_up(services, status).join(timeout=300)
    assert "loaded in" in status.line() and status.model_started is None
    recorded = services.settings.data_dir / LAST_LOAD_FILE
    assert recorded.exists()

    # the next start reads the first one's time as its estimate
    again = StartupStatus()
    again.set(model="loading…", model_started=0.0, model_expected_s=12.0)
    assert "loading…" in again.line() and "(last time 12 s)" in again.line()
    from assistant.startup import _last_load

    assert _last_load(recorded) is not None and _last_load(recorded) >= 0
