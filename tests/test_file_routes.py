"""Serve only what a page needs: the running app (build_app + launch, as `python app.py`) refuses every request
for the database, its WAL, uploads, job logs, the index, checkpoints and the secret, through every file route
Gradio exposes and with `../`, `%2e%2e`, `%00` and double-encoded variants, while a generated image shown in a
chat is still served.

Re-measure the probe count: `.venv/bin/python -m pytest -q -s tests/test_file_routes.py -k summary`.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from PIL import Image

from assistant.security import Identity
from assistant.services import Services
from tests.app_server import make_settings, start

SECRET_WORD = b"pineapple-7731"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("routes")
    settings = make_settings(root)
    services = Services(settings)
    identity = Identity.for_data_dir(settings.data_dir)
    alice = identity.new_token()
    # A conversation with a generated image, as the /draw tool leaves it.
    picture = settings.images_dir / "samples" / "gan-digits-20260101-000000-abc123" / "gan-digits-0.png"
    picture.parent.mkdir(parents=True)
    Image.new("RGB", (16, 16), (200, 30, 30)).save(picture)
    conv = services.conversations.create(f"browser:{identity.verify(alice)}")
    services.conversations.add_message(conv.id, "user", f"the secret word is {SECRET_WORD.decode()}")
    services.conversations.add_message(conv.id, "assistant", "here you are", meta={"images": [str(picture)]})
    files = {
        "database": settings.data_dir / "assistant.db",
        "wal": settings.data_dir / "assistant.db-wal",
        "shm": settings.data_dir / "assistant.db-shm",
        "upload": settings.uploads_dir / "secret.txt",
        "other-user-upload": settings.uploads_dir / "bob" / "notes.md",
        "job-log": settings.jobs_dir / "0123456789abcdef" / "log.txt",
        "index": settings.index_dir / "manifest.json",
        "checkpoint": settings.images_dir / "checkpoints" / "gan-digits" / "model.pt",
        "secret-key": settings.data_dir / "secret.key",
        "image-by-path": picture,
        "model-cache": settings.models_dir / "model.safetensors",
        "adapter": settings.adapters_dir / "concise" / "adapter_config.json",
    }
    for name, path in files.items():
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"The secret word is " + SECRET_WORD + f" ({name})".encode())
    assert files["wal"].stat().st_size > 0, "the live DB should have a WAL while the app runs"
    server = start(services)
    yield {"server": server, "files": files, "settings": settings, "services": services, "alice": alice,
           "picture": picture, "conversation": conv.id}
    server.close()


ROUTES = ["/gradio_api/file={}", "/gradio_api/file/{}", "/file={}", "/file/{}", "/gradio_api/proxy={}",
          "/static/{}", "/assets/{}", "/svelte/{}", "/gradio_api/custom_component/x/client/{}/f.js"]


def variants(path: Path) -> list[str]:
    """Ways of naming `path` in a URL: plain, relative traversals, encoded dots, NUL tricks, double encoding."""
    absolute = str(path)
    up = "../" * 12 + absolute.lstrip("/")
    gradio_cache = str(Path(tempfile.gettempdir()) / "gradio")
    return [
        absolute,
        quote(absolute),
        up,
        f"{gradio_cache}/../..{absolute}",
        up.replace("..", "%2e%2e"),
        up.replace("../", "..%2f"),
        up.replace("..", "%252e%252e"),
        absolute + "%00",
        absolute + "%00.png",
        quote(absolute + "\x00.png"),
        absolute.replace("/", "//"),
        absolute.upper(),
    ]


PROBES: dict[str, list] = {"tried": [], "leaked": []}


def probe(server, path: Path) -> list[tuple[str, int]]:
    leaks = []
    for route in ROUTES:
        for variant in variants(path):
            raw = route.format(variant)
            status, body = server.raw_get(raw)
            PROBES["tried"].append(raw)
            if status not in (403, 404) or SECRET_WORD in body or body.startswith(b"SQLite format 3"):
                leaks.append((raw, status))
                PROBES["leaked"].append(raw)
    return leaks


TARGETS = ["database", "wal", "shm", "upload", "other-user-upload", "job-log", "index", "checkpoint", "secret-key",
           "image-by-path", "model-cache", "adapter"]


@pytest.mark.parametrize("target", TARGETS)
def test_data_files_are_never_served(site, target):
    leaks = probe(site["server"], site["files"][target])
    assert leaks == [], f"{target} reachable: {leaks[:5]}"


def test_outside_files_and_traversal_refused(site):
    server = site["server"]
    for path in (Path("/etc/passwd"), Path(__file__).resolve(), Path(__file__).resolve().parents[1] / "README.md"):
        for route in ROUTES:
            for variant in variants(path):
                status, body = server.raw_get(route.format(variant))
                assert status in (403, 404), (route.format(variant), status)
                assert b"root:x:0:0" not in body


def test_with_the_app_running_the_database_is_intact(site):
    """Probing does not disturb SQLite (serving the DB once closed its locks and lost the WAL)."""
    services = site["services"]
    conv = services.conversations.create("browser:someone")
    services.conversations.add_message(conv.id, "user", "written after the probes")
    database = site["files"]["database"]
    with sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT count(*) FROM messages WHERE content = 'written after the probes'").fetchone()[0]


def test_upload_route_cannot_write_outside_its_folder(site):
    server, settings = site["server"], site["settings"]
    evil = "../../../../../../.." + str(settings.uploads_dir / "evil.txt")
    files = {"files": (evil, b"planted", "text/plain")}
    response = httpx.post(server.base + "/gradio_api/upload", files=files, timeout=30)
    assert response.status_code in (200, 400)
    assert not (settings.uploads_dir / "evil.txt").exists()
    for stored in response.json() if response.status_code == 200 else []:
        assert Path(stored).resolve().is_relative_to(Path(tempfile.gettempdir()).resolve())
        assert not Path(stored).resolve().is_relative_to(settings.data_dir)


def test_a_generated_image_is_still_served(site):
    server = site["server"]
    outputs = server.call("load", [site["alice"]])
    chatbot = outputs[3]["value"]
    images = [part["value"] for m in chatbot for part in m["content"] if part.get("component") == "image"]
    assert len(images) == 1, chatbot
    url = images[0]["url"]
    assert str(site["settings"].data_dir) not in url  # a cached copy under a content hash, not our folder
    response = httpx.get(url, timeout=30)
    assert response.status_code == 200
    assert response.content.startswith(b"\x89PNG")


def test_images_outside_the_images_folder_are_not_rendered(site):
    """A message whose meta names a file outside the generated-images folder shows no image (nothing copied)."""
    from assistant.ui.render import render_conversation

    settings = site["settings"]
    messages = [{"id": 1, "role": "assistant", "content": "x", "reasoning": "",
                 "meta": {"images": [str(site["files"]["database"]), "/etc/passwd",
                                     str(site["files"]["checkpoint"]), str(site["picture"])]}}]
    rendered = render_conversation(messages, images_root=settings.images_dir)
    shown = [m for m in rendered.messages if not isinstance(m.content, str)]
    assert len(shown) == 1


def test_summary(site):
    """Prints the probe count for docs/reliability.md (runs the probes itself so it works alone with -k)."""
    if not PROBES["tried"]:
        for target in TARGETS:
            probe(site["server"], site["files"][target])
    print(f"\nfile-route probes blocked: {len(PROBES['tried']) - len(PROBES['leaked'])}/{len(PROBES['tried'])}")
    assert not PROBES["leaked"]


@pytest.mark.parametrize("endpoint, data", [
    ("on_upload", lambda path: [[{"path": path, "meta": {"_type": "gradio.FileData"}}], "shared"]),
    ("fill", lambda path: ["ssl-digits", 0.25, "patches", {"path": path, "meta": {"_type": "gradio.FileData"}}]),
])
def test_a_server_path_sent_as_an_upload_is_refused(site, endpoint, data):
    """A file input must be a file the client uploaded: naming the database or another user's upload by path (as
    a hostile client can in the JSON of a call) is refused before our handler runs, so nothing of it is read.
    (gradio_client run on the server's own machine uploads such a path from its disk: that is not this hole.)"""
    outside = Path(__file__).resolve().parents[1] / "README.md"
    for target in ("other-user-upload", "upload", "database", outside):
        path = site["files"][target] if isinstance(target, str) else target
        outputs = site["server"].call(endpoint, data(str(path)), errors=True)
        assert outputs[0] == "error", (endpoint, target, outputs)
        assert SECRET_WORD.decode() not in json.dumps(outputs)
