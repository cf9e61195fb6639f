"""ASGI entry point for uvicorn workers."""

from carnet.app import create_app

app = create_app()
