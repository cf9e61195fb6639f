"""`carnet demo load` on a fresh SQLite file: the demo holds running projects."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, text

BIN = Path(sys.executable).parent


def test_demo_load_creates_running_projects(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/demo.db"
    env = {**os.environ, "CARNET_DATABASE_URL": url, "CARNET_STORAGE_DIR": str(tmp_path / "files")}
    env.pop("CARNET_REDIS_URL", None)
    subprocess.run([str(BIN / "carnet"), "db", "upgrade"], env=env, check=True, capture_output=True)
    done = subprocess.run(
        [str(BIN / "carnet"), "demo", "load", "--size", "small"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    assert "6 projects" in done.stdout
    engine = create_engine(url)
    with engine.connect() as conn:
        phases = [row[0] for row in conn.execute(text("SELECT current_phase FROM projects ORDER BY id"))]
        tasks = conn.scalar(text("SELECT count(*) FROM tasks WHERE record_type = 'project'"))
        members = conn.scalar(text("SELECT count(*) FROM project_members"))
    engine.dispose()
    assert phases == [1, 1, 1, 0, 0, 0]  # three have closed their qualification phase
    assert tasks > 6 * 4 and members == 6
