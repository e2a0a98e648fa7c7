"""Where PostgreSQL's programs are: the backup commands need pg_dump and psql, the tests initdb and pg_ctl.

Debian puts the server's programs (initdb, pg_ctl) only in /usr/lib/postgresql/<version>/bin, not on PATH; the
client programs are on PATH through its pg_wrapper. The newest version comes first: pg_dump refuses a server newer
than itself, and a newer pg_dump reads older servers.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

DEBIAN_ROOT = Path("/usr/lib/postgresql")


def search_dirs() -> list[Path]:
    """/usr/local/bin, then Debian's version folders, newest first."""
    versions = []
    if DEBIAN_ROOT.is_dir():
        for folder in DEBIAN_ROOT.iterdir():
            match = re.fullmatch(r"(\d+)(?:\.(\d+))?", folder.name)
            if match and (folder / "bin").is_dir():
                versions.append(((int(match[1]), int(match[2] or 0)), folder / "bin"))
    return [Path("/usr/local/bin"), *(path for _, path in sorted(versions, reverse=True))]


def pg_binary(name: str) -> str:
    """The path of PostgreSQL program `name`; RuntimeError saying where we looked when it is missing."""
    for folder in search_dirs():
        candidate = folder / name
        if candidate.is_file():
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise RuntimeError(
        f"PostgreSQL's {name} was not found (looked in {[str(d) for d in search_dirs()]} and PATH): "
        "install the PostgreSQL client programs (Debian: postgresql-client) of the server's version or newer."
    )
