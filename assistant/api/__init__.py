"""The OpenAI-compatible API (/v1): protocol models, the serving layer over the app's services, and the routes."""

from assistant.api.routes import create_api

__all__ = ["create_api"]
