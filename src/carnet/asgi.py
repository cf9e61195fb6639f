"""ASGI entry point for uvicorn workers."""

import gc

from carnet.app import create_app

app = create_app()

# What is loaded by now (modules, classes, routes, the registries) lives as long as the process:
# frozen, the garbage collector no longer walks it at every full collection. Those walks, over the
# whole application, were a third of a large import's CPU time in the embedded job runner.
gc.freeze()
