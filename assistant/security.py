"""Security plumbing shared by the UI and the CLI: the data-dir secret, signed browser ids, the bind check,
and what the web server may (never) serve.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
import logging
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SECRET_FILE = "secret.key"


# --- the data-dir secret ----------------------------------------------------------------------------
def load_or_create_secret(data_dir: Path) -> bytes:
    """The app's secret, created once in the data dir (mode 0600, written atomically) and read back afterwards.

    Two processes racing to create it end up with the same one: the file is published with `os.link`, which
    fails when another process got there first, and the loser reads the winner's.
    """
    data_dir = Path(data_dir)
    path = data_dir / SECRET_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=data_dir, prefix=f".{SECRET_FILE}.", suffix=".tmp")  # created 0600
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            with contextlib.suppress(FileExistsError):  # another process created it first: use theirs
                os.link(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)
    text = path.read_text().strip()
    if len(text) < 32:
        raise RuntimeError(f"{path} is damaged (too short); delete it to create a new one (browsers then start over)")
    return text.encode()


def keep_private(data_dir: Path) -> None:
    """What the app writes is readable by its own OS user only: umask 077 for this process (the database, its WAL,
    indexes, checkpoints, Gradio's cached copies of uploads) and the data dir 0700, which also closes an older data
    dir's 0644 database to other local users (a probe read every user's chats and the password hashes from it)."""
    os.umask(0o077)
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    if data_dir.stat().st_mode & 0o077 and data_dir.stat().st_uid == os.getuid():
        os.chmod(data_dir, 0o700)


def derive(secret: bytes, label: str) -> str:
    return hmac.new(secret, label.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Identity:
    """Browser identities that survive a restart and cannot be claimed by knowing someone's id.

    The browser keeps `<id>.<mac>` in an HttpOnly cookie the server sets (`BrowserCookie`); the MAC uses a key that
    never leaves the server, so a client that learns another browser's id (from a log, a screenshot, an old
    database) still cannot present it. Earlier versions kept the token in localStorage (gr.BrowserState, still
    read once to move those conversations to the cookie's id); `browser_state_secret` is what it encrypts with. It
    is sent to browsers, so it is derived separately and is no substitute for the MAC.
    """

    signing_key: bytes
    browser_state_secret: str

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> Identity:
        secret = load_or_create_secret(data_dir)
        return cls(derive(secret, "browser-id-mac").encode(), derive(secret, "gradio-browser-state")[:32])

    def _mac(self, raw: str) -> str:
        return hmac.new(self.signing_key, raw.encode(), hashlib.sha256).hexdigest()[:32]

    def new_token(self) -> str:
        raw = secrets.token_hex(16)
        return f"{raw}.{self._mac(raw)}"

    def verify(self, token: object) -> str | None:
        """The browser id inside a token we issued, or None for anything else."""
        if not isinstance(token, str) or token.count(".") != 1 or len(token) > 128:
            return None
        raw, mac = token.split(".")
        if not raw or not hmac.compare_digest(mac, self._mac(raw)):
            return None
        return raw


# --- where the server may listen ---------------------------------------------------------------------
class BindRefused(SystemExit):
    """Raised (exit status 2) instead of serving the app to the network without accounts."""

    def __init__(self, message: str) -> None:
        super().__init__(2)
        self.message = message

    def __str__(self) -> str:
        return self.message


def is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_binding(host: str, has_accounts: bool, insecure: bool = False) -> str | None:
    """Refuse a non-loopback bind without accounts; with `insecure` allow it and return the warning to shout."""
    if has_accounts or is_loopback(host):
        return None
    if not insecure:
        raise BindRefused(
            f"refusing to listen on {host}: no accounts exist, so anyone who reaches the port could read and delete "
            "everything; add one with `python -m assistant users add NAME --admin`, or bind 127.0.0.1, "
            "or pass --insecure"
        )
    return (
        f"!!! INSECURE: serving on {host} WITHOUT ACCOUNTS (--insecure). Anyone who can reach this port can read "
        "every conversation, delete adapters and documents, and start training jobs. !!!"
    )


# --- what the web server may serve -------------------------------------------------------------------
def blocked_paths(settings) -> list[str]:  # noqa: ANN001
    """Never served, whatever else is allowed: the data dir (DB, WAL, uploads, jobs, index, images, secret),
    the model cache and the adapters. Generated images reach the page as image data, not as paths."""
    paths = {settings.data_dir, settings.models_dir, settings.adapters_dir, settings.index_dir, settings.uploads_dir,
             settings.jobs_dir, settings.images_dir}
    db_url = settings.db_url
    if db_url.startswith("sqlite:///"):
        db = Path(db_url.removeprefix("sqlite:///"))
        paths |= {db, Path(f"{db}-wal"), Path(f"{db}-shm"), Path(f"{db}-journal"), db.parent}
    return sorted({str(Path(p).expanduser().resolve()) for p in paths})


def is_generated_image(path: str | Path, images_dir: Path) -> bool:
    """Only files the image tools wrote (under images_dir, not a checkpoint) may be shown on a page."""
    try:
        resolved = Path(path).resolve(strict=True)
    except (OSError, RuntimeError):
        return False
    root = Path(images_dir).resolve()
    return (
        resolved.is_file()
        and resolved.is_relative_to(root)
        and not resolved.is_relative_to(root / "checkpoints")
        and resolved.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp")
    )


def load_generated_image(path: str | Path, images_dir: Path):  # noqa: ANN201 - PIL.Image.Image | None
    """The image as pixels (so Gradio caches a copy under a content-hash name and never serves our folder)."""
    if not is_generated_image(path, images_dir):
        return None
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            return img.copy()
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError):
        log.warning("cannot show image %s", path)
        return None


# Routes that turn part of the URL into a file path or a URL to fetch (Gradio's, with and without the API prefix).
FILE_ROUTE_PREFIXES = ("/gradio_api/file", "/file", "/gradio_api/proxy=", "/proxy=", "/static/", "/assets/",
                       "/svelte/", "/gradio_api/custom_component/", "/custom_component/", "/gradio_api/stream/")


def _decodings(text: str, rounds: int = 3) -> list[str]:
    from urllib.parse import unquote

    seen = [text]
    for _ in range(rounds):
        text = unquote(text)
        if text == seen[-1]:
            break
        seen.append(text)
    return seen


def refuse_file_request(path: str, raw_path: str, blocked: list[str]) -> str | None:
    """Why a request to a file route must be refused (None: let Gradio's own checks decide)."""
    if not path.startswith(FILE_ROUTE_PREFIXES) and not raw_path.startswith(FILE_ROUTE_PREFIXES):
        return None
    if path.startswith(("/gradio_api/proxy=", "/proxy=")):
        return "this app proxies nothing"
    for text in _decodings(raw_path) + [path]:
        lowered = text.lower().replace("\\", "/")
        if "\x00" in lowered:
            return "NUL in path"
        if "/../" in f"/{lowered}/" or "/./" in f"/{lowered}/":
            return "dot segment in path"
        squeezed = "/" + "/".join(part for part in lowered.split("/") if part)
        if any(f"{b}/" in f"{squeezed}/" for b in blocked):
            return "blocked path"
    return None


class FileRouteGuard:
    """ASGI middleware in front of Gradio: 403 for file-route requests that name a blocked path in any spelling
    (percent-encoded once or twice, `//`, any case), contain `..` or NUL, or ask the proxy route to fetch.
    Defence in depth: Gradio's allowed/blocked path checks stay in force behind it."""

    def __init__(self, app, blocked: list[str]) -> None:  # noqa: ANN001
        self.app = app
        self.blocked = [b.lower().rstrip("/") for b in blocked]

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        if scope.get("type") == "http":
            raw = scope.get("raw_path") or scope.get("path", "").encode()
            reason = refuse_file_request(scope.get("path", ""), raw.decode("latin-1").split("?", 1)[0], self.blocked)
            if reason is not None:
                log.warning("refused %s: %s", scope.get("path", "")[:200], reason)
                body = b'{"detail": "File not allowed."}'
                await send({"type": "http.response.start", "status": 403,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


# --- the browser's identity cookie ------------------------------------------------------------------------
BROWSER_COOKIE = "assistant_browser"
COOKIE_MAX_AGE_S = 400 * 86400  # the longest lifetime browsers accept (Chrome caps cookies at 400 days)


def cookie_header(name: str, value: str, secure: bool) -> bytes:
    flags = f"; Path=/; Max-Age={COOKIE_MAX_AGE_S}; HttpOnly; SameSite=Lax" + ("; Secure" if secure else "")
    return f"{name}={value}{flags}".encode("latin-1")


def cookie_value(headers: list[tuple[bytes, bytes]], name: str) -> str | None:
    """The named cookie of an ASGI request's headers, or None."""
    for key, value in headers:
        if key.lower() == b"cookie":
            for part in value.decode("latin-1").split(";"):
                k, _, v = part.strip().partition("=")
                if k == name:
                    return v
    return None


class BrowserCookie:
    """ASGI middleware: give every browser without a valid identity cookie one, on the first response it gets.

    The page's identity used to live in gr.BrowserState, which the page reads from localStorage only once its
    component's script has loaded; on a slow machine the load event ran before that, with no identity, and a
    reloaded page lost its conversations. A cookie set with the page itself is there before any event runs.
    The request that lacks it is not given one: a client without cookies (the Gradio API) keeps naming its
    identity in the call, as before. The OpenAI-compatible API (/v1) has keys of its own and gets no cookie.
    """

    def __init__(self, app, identity: Identity) -> None:  # noqa: ANN001
        self.app = app
        self.identity = identity

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        if scope.get("type") != "http" or scope.get("path", "").startswith("/v1"):
            await self.app(scope, receive, send)
            return
        if self.identity.verify(cookie_value(scope.get("headers", []), BROWSER_COOKIE)) is not None:
            await self.app(scope, receive, send)
            return
        header = cookie_header(BROWSER_COOKIE, self.identity.new_token(), scope.get("scheme") == "https")

        async def send_with_cookie(message: dict) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", header)]}
            await send(message)

        await self.app(scope, receive, send_with_cookie)
