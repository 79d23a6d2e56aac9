"""Who may do what in the UI: the role of the logged-in user (`gr.Request.username`), never a client-sent value."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from assistant.users import UserStore, accounts_configured, make_auth, role_of


class PermissionDenied(PermissionError):
    """An action the current user's role does not allow; the message says what to do."""


@dataclass
class Access:
    store: UserStore
    auth: str | None = None

    @classmethod
    def for_services(cls, services) -> Access:  # noqa: ANN001
        return cls(UserStore(services.db), services.settings.auth)

    def accounts_configured(self) -> bool:
        return accounts_configured(self.store, self.auth)

    def gradio_auth(self):  # noqa: ANN201 - Gradio's auth= (None: no login, single-user on loopback)
        return make_auth(self.store, self.auth) if self.accounts_configured() else None

    def role(self, request: gr.Request | None) -> str:
        return role_of(self.store, self.auth, getattr(request, "username", None) if request is not None else None)

    def require_admin(self, request: gr.Request | None, action: str) -> None:
        if self.role(request) != "admin":
            raise PermissionDenied(f"only an admin can {action}; ask an admin (python -m assistant users …)")


def check_admin(access: Access | None, request: gr.Request | None, action: str) -> None:
    """`access` is None only when a tab is built on its own (tests): then nothing is checked."""
    if access is not None:
        access.require_admin(request, action)


def owner_of(request: gr.Request | None) -> str:
    """Who starts a job from the UI: the logged-in user, else the single local user."""
    username = getattr(request, "username", None) if request is not None else None
    return f"user:{username}" if username else "local"
