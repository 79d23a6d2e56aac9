"""Services: the one container of process-wide objects (settings, DB, model, adapters, knowledge, tools, jobs).

The UI, the CLI and the API all go through `get_services()`. Heavy parts (the LLM, the knowledge index) load
lazily, once, behind `SERVICES_LOCK`.
"""

from __future__ import annotations

import logging
import threading
from functools import cached_property

from assistant.adapters import AdapterRegistry
from assistant.config import Settings, get_settings
from assistant.conversations import ConversationStore
from assistant.db import Database, get_database
from assistant.jobs import JobRunner

log = logging.getLogger(__name__)

SERVICES_LOCK = threading.RLock()  # guards lazy construction of the shared model and index


class Services:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.ensure_dirs()
        self.db: Database = get_database(settings)
        self.conversations = ConversationStore(self.db)
        self.adapters = AdapterRegistry(settings)
        self.jobs = JobRunner(settings, self.db)
        self._llm = None

    def role(self, owner: str) -> str:
        """The role behind an owner id: `user:NAME` has that account's; without accounts the one local user is
        admin, and with accounts any other owner is a plain user."""
        from assistant.users import UserStore, role_of

        username = owner.removeprefix("user:") if owner.startswith("user:") else None
        return role_of(UserStore(self.db), self.settings.auth, username)

    # --- the model --------------------------------------------------------------------------------
    @property
    def llm_loaded(self) -> bool:
        return self._llm is not None

    @property
    def llm(self):  # noqa: ANN201 - LLMEngine
        if self._llm is None:
            with SERVICES_LOCK:
                if self._llm is None:
                    from assistant.llm.select import load_engine

                    engine = load_engine(self.settings)
                    self.adapters.attach(engine)
                    self._llm = engine
                    _register_reranker(engine)
                    info = engine.loaded
                    log.info(
                        "model %s loaded (%s engine, %s, %s) in %.1f s",
                        info.name,
                        engine.kind,
                        info.quant,
                        info.device,
                        info.load_seconds,
                    )
        return self._llm

    def set_llm(self, engine, base: str | None = None) -> None:  # noqa: ANN001 - tests inject a tiny model this way
        """Serve with `engine` from the next turn on (`base`: the model it was loaded for; default the setting).

        A turn already under way keeps the engine it started with (it holds its own reference), so a swap never
        cuts a reply short; assistant/model_choice.py swaps models this way while the app runs.
        """
        with SERVICES_LOCK:
            self.adapters.attach(engine, base)
            self._llm = engine
            _register_reranker(engine)

    @cached_property
    def models(self):  # noqa: ANN201 - ModelSwitch
        """The chat model picker: install, switch (without a restart) and reset the model (Settings tab, CLI)."""
        from assistant.model_choice import ModelSwitch

        return ModelSwitch(self)

    # --- features ---------------------------------------------------------------------------------
    @cached_property
    def chat(self):  # noqa: ANN201 - ChatEngine
        from assistant.chat import ChatEngine

        return ChatEngine(self)

    @cached_property
    def knowledge(self):  # noqa: ANN201 - KnowledgeBase
        from assistant.knowledge.service import get_knowledge_base

        return get_knowledge_base(self.settings)

    @cached_property
    def tools(self):  # noqa: ANN201 - ToolService
        from assistant.tools.service import ToolService

        return ToolService(self)

    @cached_property
    def arena(self):  # noqa: ANN201 - Arena
        from assistant.arena import Arena

        return Arena(self)

    @cached_property
    def feedback(self):  # noqa: ANN201 - FeedbackStore
        from assistant.feedback import FeedbackStore

        return FeedbackStore(self)

    def knowledge_hits(self, query: str, always: bool = False, owner: str | None = None) -> list:
        """Chunks relevant enough to show the model (all top-k when `always`): the shared knowledge base and
        `owner`'s private uploads, never another user's."""
        try:
            kb = self.knowledge
            from assistant.knowledge.service import search_collections
        except ImportError:
            return []
        if self.settings.auto_index_knowledge and not kb.documents():
            kb.sync_folder()  # first use from the CLI or API: index the shipped corpus (incremental, once)
        hits = search_collections(self.settings, query, owner, k=self.settings.retrieval_k)
        if always:
            return hits
        return [h for h in hits if kb.is_relevant(h)]

    def format_sources(self, hits: list) -> str:
        from assistant.knowledge.citations import format_context

        return format_context(hits)


def _register_reranker(engine) -> None:  # noqa: ANN001
    """Let the knowledge reranker use the loaded model (it skips the model until then)."""
    try:
        from assistant.knowledge.rerank import register_engine
    except ImportError:  # knowledge extras not installed
        return
    register_engine(engine)


_services: dict[str, Services] = {}


def get_services(settings: Settings | None = None) -> Services:
    settings = settings or get_settings()
    key = str(settings.data_dir)
    with SERVICES_LOCK:
        if key not in _services:
            _services[key] = Services(settings)
        return _services[key]
