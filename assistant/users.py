"""Accounts: users with argon2-hashed passwords and a role (admin | user), kept in the SQL database.

When at least one account exists the UI requires a login (`UserStore.verify` is Gradio's `auth=`), every
conversation belongs to the logged-in user, and admin-only actions check `UserStore.role`. Without accounts the
app is single-user and binds 127.0.0.1 only (see `assistant/security.py`).

API keys (`ApiKeyStore`) let a program use the OpenAI-compatible API as one user: `Authorization: Bearer <key>`.
A key is 256 random bits, so its sha256 is enough to store (no slow hash needed: nothing to brute-force).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, select

from assistant.db import ApiKey, Database, User, utcnow

ROLES = ("admin", "user")
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
_hasher = PasswordHasher()  # argon2id with the library's maintained defaults
# Verified against when the user does not exist, so a wrong name costs as much time as a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


class UserError(ValueError):
    """A refused account operation, with a message fit to show the user."""


def check_user_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
        raise UserError(
            f"invalid user name {name!r}: use 1-64 letters, digits, '-', '_', '.' or '@', "
            "starting with a letter or digit"
        )
    return name


def check_password(password: str) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_CHARS:
        raise UserError(f"the password must have at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise UserError(f"the password must have at most {MAX_PASSWORD_CHARS} characters")
    if "\x00" in password:
        raise UserError("the password cannot contain a NUL character")
    return password


class UserStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def check_new(self, name: str) -> None:
        """Refuse a bad or taken name before anyone types a password."""
        check_user_name(name)
        if self.role(name) is not None:
            raise UserError(f"user {name!r} already exists")

    def add(self, name: str, password: str, role: str = "user") -> dict:
        check_user_name(name)
        check_password(password)
        if role not in ROLES:
            raise UserError(f"role must be one of {', '.join(ROLES)}")
        with self.db.session() as s:
            if s.get(User, name) is not None:
                raise UserError(f"user {name!r} already exists")
            s.add(User(name=name, password_hash=_hasher.hash(password), role=role))
        return {"name": name, "role": role}

    def verify(self, name: str, password: str) -> bool:
        """True when `password` is this user's; the same work is done for unknown names (no timing oracle)."""
        if not isinstance(name, str) or not isinstance(password, str) or len(password) > MAX_PASSWORD_CHARS:
            return False
        with self.db.session() as s:
            user = s.get(User, name) if _NAME.match(name) else None
            stored = user.password_hash if user is not None else _DUMMY_HASH
            try:
                ok = _hasher.verify(stored, password) and user is not None
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False
            if ok and _hasher.check_needs_rehash(stored):
                user.password_hash = _hasher.hash(password)
            return ok

    def role(self, name: str | None) -> str | None:
        if not name:
            return None
        with self.db.session() as s:
            user = s.get(User, name)
            return user.role if user is not None else None

    def list(self) -> list[dict]:
        with self.db.session() as s:
            rows = s.execute(select(User.name, User.role, User.created_at).order_by(User.name)).all()
            return [{"name": r.name, "role": r.role, "created_at": str(r.created_at)[:19]} for r in rows]

    def count(self) -> int:
        with self.db.session() as s:
            return int(s.execute(select(func.count()).select_from(User)).scalar_one())

    def set_role(self, name: str, role: str) -> None:
        if role not in ROLES:
            raise UserError(f"role must be one of {', '.join(ROLES)}")
        with self.db.session() as s:
            user = self._get(s, name)
            if user.role == "admin" and role != "admin" and self._admins(s) == 1:
                raise UserError(f"{name!r} is the last admin; make another admin first")
            user.role = role

    def set_password(self, name: str, password: str) -> None:
        check_password(password)
        with self.db.session() as s:
            self._get(s, name).password_hash = _hasher.hash(password)

    def delete(self, name: str) -> None:
        with self.db.session() as s:
            user = self._get(s, name)
            if user.role == "admin" and self._admins(s) == 1 and self._count(s) > 1:
                raise UserError(f"{name!r} is the last admin while other users exist; make another admin first")
            s.delete(user)

    @staticmethod
    def _get(s, name: str) -> User:  # noqa: ANN001
        user = s.get(User, name)
        if user is None:
            raise UserError(f"no user {name!r}")
        return user

    @staticmethod
    def _admins(s) -> int:  # noqa: ANN001
        return int(s.execute(select(func.count()).select_from(User).where(User.role == "admin")).scalar_one())

    @staticmethod
    def _count(s) -> int:  # noqa: ANN001
        return int(s.execute(select(func.count()).select_from(User)).scalar_one())


def legacy_pair(auth: str | None) -> tuple[str, str] | None:
    """The old single `ASSISTANT_AUTH=user:password` pair, if set."""
    if auth and ":" in auth:
        name, password = auth.split(":", 1)
        if name and password:
            return name, password
    return None


class LoginThrottle:
    """At most `attempts` wrong passwords per account within `window` seconds; past that, logins to the account
    are refused without checking (no argon2 work either) until the oldest failure leaves the window."""

    def __init__(self, attempts: int = 5, window: float = 60.0, clock=time.monotonic) -> None:  # noqa: ANN001
        self.attempts, self.window, self.clock = attempts, window, clock
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()  # guards _failures (Gradio checks logins on several threads)

    def _recent(self, name: str) -> list[float]:
        now = self.clock()
        kept = [t for t in self._failures.get(name, []) if now - t < self.window]
        self._failures[name] = kept
        return kept

    def allowed(self, name: str) -> bool:
        with self._lock:
            return len(self._recent(name)) < self.attempts

    def record(self, name: str, ok: bool) -> None:
        with self._lock:
            if ok:
                self._failures.pop(name, None)
            else:
                self._recent(name).append(self.clock())


def make_auth(store: UserStore, auth: str | None, throttle: LoginThrottle | None = None):  # noqa: ANN201
    """Gradio's `auth=`: accounts in the database, plus the legacy ASSISTANT_AUTH pair as a fallback; wrong
    passwords are throttled per account (`LoginThrottle`)."""
    pair = legacy_pair(auth)
    throttle = throttle or LoginThrottle()

    def check(name: str, password: str) -> bool:
        if not throttle.allowed(name):
            return False
        if pair is not None and hmac.compare_digest(name.encode(), pair[0].encode()) and hmac.compare_digest(
            password.encode(), pair[1].encode()
        ):
            ok = True
        else:
            ok = store.verify(name, password)
        throttle.record(name, ok)
        return ok

    return check


def accounts_configured(store: UserStore, auth: str | None) -> bool:
    return legacy_pair(auth) is not None or store.count() > 0


def role_of(store: UserStore, auth: str | None, username: str | None) -> str:
    """The role behind a request: accounts decide; the legacy pair's user and the local single user are admin."""
    if not username:
        # No login: only possible when no account is configured, i.e. the local single-user app on loopback.
        return "user" if accounts_configured(store, auth) else "admin"
    pair = legacy_pair(auth)
    if pair is not None and username == pair[0]:
        return "admin"
    return store.role(username) or "user"


API_KEY_PREFIX = "sk-asst-"
LOCAL_OWNER = "local"  # the single user of an app without accounts


class ApiKeyStore:
    """Per-user API keys: created (shown once), listed, revoked; checked by hash on every API request."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    def _hash(key: str) -> str:
        return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()

    def create(self, owner: str, label: str = "") -> tuple[str, dict]:
        """Make a key for `owner` (an account, or "local" when there are none); returns (key, its record)."""
        check_user_name(owner)
        users = UserStore(self.db)
        if users.count() and users.role(owner) is None:
            raise UserError(f"no user {owner!r}: API keys belong to an account (python -m assistant users add)")
        key = API_KEY_PREFIX + secrets.token_urlsafe(32)
        with self.db.session() as s:
            row = ApiKey(owner=owner, label=label.strip()[:100], key_hash=self._hash(key), prefix=key[:12])
            s.add(row)
            s.flush()
            return key, self._record(row)

    def verify(self, key: str | None) -> str | None:
        """The owner of a valid, unrevoked key, else None."""
        if not isinstance(key, str) or not key or len(key) > 256:
            return None
        with self.db.session() as s:
            row = s.execute(select(ApiKey).where(ApiKey.key_hash == self._hash(key))).scalar_one_or_none()
            if row is None or row.revoked:
                return None
            row.last_used_at = utcnow()
            return row.owner

    def active_count(self) -> int:
        with self.db.session() as s:
            query = select(func.count()).select_from(ApiKey).where(ApiKey.revoked.is_(False))
            return int(s.execute(query).scalar_one())

    def list(self, owner: str | None = None) -> list[dict]:
        with self.db.session() as s:
            query = select(ApiKey).order_by(ApiKey.created_at)
            if owner is not None:
                query = query.where(ApiKey.owner == owner)
            return [self._record(row) for row in s.execute(query).scalars()]

    def revoke(self, key_id: str) -> dict:
        with self.db.session() as s:
            row = s.get(ApiKey, key_id)
            if row is None:
                raise UserError(f"no API key {key_id!r} (see: python -m assistant apikeys list)")
            row.revoked = True
            return self._record(row)

    @staticmethod
    def _record(row: ApiKey) -> dict:
        return {
            "id": row.id,
            "owner": row.owner,
            "label": row.label,
            "prefix": row.prefix + "…",
            "revoked": bool(row.revoked),
            "created_at": str(row.created_at)[:19],
            "last_used_at": str(row.last_used_at)[:19] if row.last_used_at else "",
        }
