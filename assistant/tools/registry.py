"""ToolRegistry: built-in tools plus plugins (`plugins/*.py` and the `assistant.tools` entry-point group).

A plugin is any module that defines LangChain tools (`@tool` or `StructuredTool`). One that fails to import
is recorded with its error and skipped; the others still load.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

from langchain_core.tools import BaseTool

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "assistant.tools"


@dataclass
class PluginProblem:
    source: str
    error: str


def _tools_in(obj: object) -> list[BaseTool]:
    if isinstance(obj, BaseTool):
        return [obj]
    if isinstance(obj, list | tuple):
        return [t for t in obj if isinstance(t, BaseTool)]
    return []


class ToolRegistry:
    def __init__(self, tools: list[BaseTool] | None = None) -> None:
        self.tools: dict[str, BaseTool] = {}
        self.origins: dict[str, str] = {}
        self.problems: list[PluginProblem] = []
        for tool in tools or []:
            self.add(tool, "built-in")

    def add(self, tool: BaseTool, origin: str) -> None:
        if tool.name in self.tools:
            self.problems.append(
                PluginProblem(origin, f"tool {tool.name!r} already defined by {self.origins[tool.name]}; skipped")
            )
            return
        self.tools[tool.name] = tool
        self.origins[tool.name] = origin

    def load_folder(self, folder: Path) -> None:
        if not folder.is_dir():
            return
        for path in sorted(folder.glob("*.py")):
            if path.name.startswith("_"):
                continue
            module_name = f"assistant_plugin_{path.stem}"
            try:
                spec = importlib.util.spec_from_file_location(module_name, path)
                module = importlib.util.module_from_spec(spec)
                sys.modules[module_name] = module
                spec.loader.exec_module(module)
                found = [t for value in vars(module).values() for t in _tools_in(value)]
                if not found:
                    self.problems.append(PluginProblem(str(path), "defines no LangChain tools"))
                for tool in found:
                    self.add(tool, f"plugin {path.name}")
            except (Exception, SystemExit) as exc:  # noqa: BLE001 - a broken plugin must not stop the others
                sys.modules.pop(module_name, None)
                log.warning("plugin %s failed to load: %s", path, exc)
                self.problems.append(PluginProblem(str(path), f"{type(exc).__name__}: {exc}"))
                log.debug(traceback.format_exc())

    def load_entry_points(self) -> None:
        for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            try:
                obj = entry.load()
                found = _tools_in(obj() if callable(obj) and not isinstance(obj, BaseTool) else obj)
                for tool in found:
                    self.add(tool, f"package {entry.value}")
            except (Exception, SystemExit) as exc:  # noqa: BLE001
                self.problems.append(PluginProblem(f"entry point {entry.name}", f"{type(exc).__name__}: {exc}"))

    def names(self) -> list[str]:
        return sorted(self.tools)

    def describe(self) -> list[dict]:
        """Name, description and JSON schema of each tool (for prompts, /tools and the API)."""
        out = []
        for name in self.names():
            tool = self.tools[name]
            schema = tool.args_schema.model_json_schema() if hasattr(tool.args_schema, "model_json_schema") else {}
            props = {
                k: {kk: vv for kk, vv in v.items() if kk in ("type", "description", "default", "enum")}
                | _optional_type(v)
                for k, v in schema.get("properties", {}).items()
            }
            out.append(
                {
                    "name": name,
                    "description": tool.description,
                    "origin": self.origins[name],
                    # plugins mark a tool that changes something with metadata={"side_effect": True}
                    "side_effect": bool((tool.metadata or {}).get("side_effect")),
                    "parameters": {"type": "object", "properties": props, "required": schema.get("required", [])},
                }
            )
        return out


def _optional_type(prop: dict) -> dict:
    """`int | None` is `anyOf: [{integer}, {null}]` in pydantic's schema: its type is the non-null one (an optional
    argument is left out, never null). Without it the decision grammar let any JSON value through (`"seed": {}`)."""
    if "type" in prop or "anyOf" not in prop:
        return {}
    types = [option["type"] for option in prop["anyOf"] if option.get("type") not in (None, "null")]
    return {"type": types[0]} if len(types) == 1 else {}

