"""Screenshots of the browser journeys, for a person to look at: written to the folder named by
CARNET_SCREENSHOTS when it is set, skipped otherwise."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def shot(page: Any, name: str) -> None:
    folder = os.environ.get("CARNET_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{folder}/{name}.png", full_page=True)
