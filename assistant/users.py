"""Accounts: users with argon2-hashed passwords and a role (admin | user), kept in the SQL database.

When at least one account exists the UI requires a login (`UserStore.verify` is Gradio's `auth=`), every
conversation belongs to the logged-in user, and admin-only actions check `UserStore.role`. Without accounts the
app is single-user and binds 127.0.0.1 only (see `assistant/security.py`).
"""

from __future__ import annotations

import hmac
import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, select

from assistant.db import Database, User

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


def make_auth(store: UserStore, auth: str | None):  # noqa: ANN201
    """Gradio's `auth=`: accounts in the database, plus the legacy ASSISTANT_AUTH pair as a fallback."""
    pair = legacy_pair(auth)

    def check(name: str, password: str) -> bool:
        if pair is not None and hmac.compare_digest(name.encode(), pair[0].encode()) and hmac.compare_digest(
            password.encode(), pair[1].encode()
        ):
            return True
        return store.verify(name, password)

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
