"""munijobs browse: Datasette on 127.0.0.1 serving the views, their descriptions and the docs' canned queries."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from munijobs.analysts.browse import datasette_args, metadata_for


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fetch(url: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.loads(response.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def start_browse(database: Path, **streams) -> tuple[subprocess.Popen, int]:
    """`munijobs browse` on a SQLite file, on a free 127.0.0.1 port: (process, port)."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}"}
    return subprocess.Popen([sys.executable, "-m", "munijobs", "browse", "--port", str(port), "--no-open"],
                            env=env, **streams), port


def test_metadata_names_the_database():
    metadata = metadata_for("/data/munijobs.db")
    assert set(metadata["databases"]) == {"munijobs"}
    assert "temporary_share_by_county" in metadata["databases"]["munijobs"]["queries"]
    args = datasette_args("/data/munijobs.db", "m.json", 8001, open_browser=False)
    assert args[args.index("--host") + 1] == "127.0.0.1" and "--open" not in args


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_serves_views_over_http(ads_engine, tmp_path):
    database = Path(ads_engine.url.database)
    process, port = start_browse(database, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}/{database.stem}"
        ads = fetch(f"{base}/v_ads.json?_shape=array&_size=max")
        assert len(ads) == 8 and ads[0]["title"] == "Sykepleier til hjemmetjenesten"
        history = fetch(f"{base}/history_of_one_ad.json?_shape=array&ad_id=5")
        assert [h["field"] for h in history] == ["title"]
        metadata = fetch(f"http://127.0.0.1:{port}/-/metadata.json")
        columns = metadata["databases"][database.stem]["tables"]["v_ads"]["columns"]
        assert columns["deadline_kind"].startswith("Kind of deadline.")
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=20)[0].decode()
    assert "127.0.0.1" in output


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgresql_is_refused_clearly(run):
    result = run("browse", "--no-open")
    assert result.exit_code == 2
    assert "Datasette needs a SQLite database" in result.stderr and "munijobs export" in result.stderr
