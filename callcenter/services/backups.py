"""Backups of the whole database into one file, and their restore.

A backup file is: a magic line, a JSON header (format, backend, Alembic revision, when), then the database's own
dump, gzip-compressed and, with a passphrase, encrypted in authenticated chunks. The dump is the backend's own
consistent copy: SQLite's online backup API (one step, so one read snapshot while the web and worker keep
writing) or `pg_dump` (one transaction snapshot). Restore refuses a file of the other backend or of a schema this
code does not know, and refuses to overwrite a database that holds rows unless forced; it replaces the whole
database in one transaction, so a failed restore leaves the database as it was.

Encryption: AES-256-GCM over 1 MiB chunks with a key derived from the passphrase by scrypt (salt in the header).
Each chunk's nonce is its index and its additional data the header plus a "last chunk" flag, so a changed header,
reordered, dropped or truncated chunks all fail authentication instead of restoring something else.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import hmac
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, BinaryIO

import sqlalchemy as sa
from sqlalchemy import Engine

from callcenter import migrate
from callcenter.pg_binaries import pg_binary
from callcenter.services.errors import DomainError

MAGIC = b"CALLCENTER-BACKUP\n"
FORMAT_VERSION = 1
SUFFIX = ".ccbackup"
# Names of the backups this module writes in a folder (and the only files retention ever deletes).
NAME_PATTERN = re.compile(r"callcenter-\d{8}T\d{6}Z\.ccbackup")
CHUNK_BYTES = 1024 * 1024
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
_KEY_CHECK = b"callcenter backup key check"
_MAX_HEADER_BYTES = 64 * 1024
_COPY_BYTES = 256 * 1024
PG_LOCK_TIMEOUT_MS = 30_000


class BackupError(DomainError):
    """A backup or restore the user asked for cannot be done; the message says why."""


@dataclass(frozen=True)
class BackupInfo:
    """What a backup file says about itself."""

    path: Path
    backend: str
    revision: str | None
    created_at: str
    encrypted: bool
    size: int


def backend_of(engine: Engine) -> str:
    """'sqlite' or 'postgresql'; anything else is refused."""
    name = engine.dialect.name
    if name not in ("sqlite", "postgresql"):
        raise BackupError(f"backups support SQLite and PostgreSQL, not {name}")
    return name


def default_path(folder: Path, now: datetime | None = None) -> Path:
    """A timestamped file name in `folder` (UTC, so names sort by age whatever the server's zone)."""
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Path(folder) / f"callcenter-{stamp}{SUFFIX}"


# --- writing -------------------------------------------------------------------------------------------------------


def write_backup(engine: Engine, output: Path, passphrase: str | None = None,
                 now: datetime | None = None) -> BackupInfo:
    """Write a consistent, compressed (and with `passphrase`, encrypted) backup of the database to `output`.

    The file appears only once complete (written beside it, then renamed): a crash never leaves half a backup
    where retention or a restore would take it for a whole one.
    """
    backend = backend_of(engine)
    output = Path(output)
    if output.exists():
        raise BackupError(f"{output} exists; not overwriting it")
    output.parent.mkdir(parents=True, exist_ok=True)
    created_at = (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")
    partial = output.with_name(output.name + ".partial")
    try:
        # Scratch space beside the output, not in /tmp (often a small RAM disk): the SQLite copy is full size.
        with tempfile.TemporaryDirectory(prefix=".cc-backup-", dir=output.parent) as scratch:
            if backend == "sqlite":
                snapshot = Path(scratch) / "snapshot.sqlite"
                _sqlite_snapshot(engine, snapshot)
                revision = _sqlite_revision(snapshot)
                header = _header(backend, revision, created_at, passphrase)
                with open(partial, "wb") as raw, _payload_writer(raw, header, passphrase) as payload, \
                        open(snapshot, "rb") as source:
                    shutil.copyfileobj(source, payload, _COPY_BYTES)
            else:
                revision = migrate.current_revision(engine)
                header = _header(backend, revision, created_at, passphrase)
                with open(partial, "wb") as raw, _payload_writer(raw, header, passphrase) as payload:
                    _pg_dump(engine, payload)
        partial.chmod(0o600)
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)
    return BackupInfo(output, backend, revision, created_at, passphrase is not None, output.stat().st_size)


def _sqlite_snapshot(engine: Engine, target: Path) -> None:
    """Copy the live database into `target` with SQLite's online backup API, in one step (one read snapshot)."""
    raw = engine.raw_connection()
    try:
        source: sqlite3.Connection = raw.driver_connection  # type: ignore[assignment]
        copy = sqlite3.connect(target)
        try:
            source.backup(copy, pages=-1)
            # A standalone file: no -wal beside it to forget.
            copy.execute("PRAGMA journal_mode=DELETE")
        finally:
            copy.close()
    finally:
        raw.close()


def _sqlite_revision(path: Path) -> str | None:
    connection = sqlite3.connect(path)
    try:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:
        return None
    finally:
        connection.close()
    return row[0] if row else None


def _libpq_target(engine: Engine) -> tuple[str, dict[str, str]]:
    """The database as a libpq URL for pg_dump/psql, with the password in the environment (not in `ps`)."""
    url = engine.url
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return url.set(drivername="postgresql", password=None).render_as_string(hide_password=False), env


def _pg_dump(engine: Engine, payload: IO[bytes]) -> None:
    """Stream `pg_dump` (custom format, uncompressed: the payload is gzipped once) into `payload`."""
    target, env = _libpq_target(engine)
    command = [pg_binary("pg_dump"), "--format=custom", "--compress=0", "--no-owner", "--no-privileges",
               f"--dbname={target}"]
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, env=env)
        assert process.stdout is not None
        try:
            shutil.copyfileobj(process.stdout, payload, _COPY_BYTES)
        finally:
            process.stdout.close()
            code = process.wait()
        if code != 0:
            errors.seek(0)
            raise BackupError(f"pg_dump failed: {errors.read().decode(errors='replace').strip()}")


def _header(backend: str, revision: str | None, created_at: str, passphrase: str | None) -> dict[str, Any]:
    header: dict[str, Any] = {"format": FORMAT_VERSION, "backend": backend, "revision": revision,
                              "created_at": created_at, "compression": "gzip", "encryption": None}
    if passphrase is not None:
        if not passphrase:
            raise BackupError("the backup passphrase is empty")
        salt = os.urandom(16)
        key = _derive_key(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
        header["encryption"] = {
            "cipher": "AES-256-GCM", "chunk_bytes": CHUNK_BYTES,
            "kdf": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P,
            "salt": base64.b64encode(salt).decode(),
            "key_check": base64.b64encode(hmac.new(key, _KEY_CHECK, hashlib.sha256).digest()).decode(),
        }
    return header


@contextlib.contextmanager
def _payload_writer(raw: BinaryIO, header: dict[str, Any], passphrase: str | None) -> Iterator[IO[bytes]]:
    """Write magic and header to `raw`, then yield a stream that gzips (and seals) what is written to it."""
    header_bytes = json.dumps(header, sort_keys=True).encode()
    raw.write(MAGIC + len(header_bytes).to_bytes(4, "big") + header_bytes)
    sink: IO[bytes] = raw
    sealer = None
    if header["encryption"]:
        assert passphrase is not None
        sealer = _SealingWriter(raw, _key_from_header(header, passphrase), header_bytes)
        sink = sealer  # type: ignore[assignment]
    with gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=6, mtime=0) as compressed:
        yield compressed  # type: ignore[misc]
    if sealer is not None:
        sealer.finish()
    raw.flush()
    os.fsync(raw.fileno())


# --- encryption ----------------------------------------------------------------------------------------------------


def _derive_key(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode())


def _key_from_header(header: dict[str, Any], passphrase: str) -> bytes:
    """The file's key from `passphrase`; BackupError when it is not the passphrase the file was written with."""
    spec = header["encryption"]
    if spec.get("cipher") != "AES-256-GCM" or spec.get("kdf") != "scrypt":
        raise BackupError(f"unknown encryption {spec.get('cipher')}/{spec.get('kdf')} in the backup")
    key = _derive_key(passphrase, base64.b64decode(spec["salt"]), int(spec["n"]), int(spec["r"]), int(spec["p"]))
    expected = base64.b64decode(spec["key_check"])
    if not hmac.compare_digest(hmac.new(key, _KEY_CHECK, hashlib.sha256).digest(), expected):
        raise BackupError("wrong passphrase for this backup")
    return key


def _aad(header_bytes: bytes, last: bool) -> bytes:
    return header_bytes + (b"\x01" if last else b"\x00")


class _SealingWriter(io.RawIOBase):
    """Encrypts what is written in CHUNK_BYTES chunks: each frame is length (4 bytes), last flag (1), ciphertext."""

    def __init__(self, raw: BinaryIO, key: bytes, header_bytes: bytes) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._raw = raw
        self._aead = AESGCM(key)
        self._header_bytes = header_bytes
        self._buffer = bytearray()
        self._index = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[override]
        self._buffer += data
        while len(self._buffer) > CHUNK_BYTES:
            self._emit(bytes(self._buffer[:CHUNK_BYTES]), last=False)
            del self._buffer[:CHUNK_BYTES]
        return len(data)

    def finish(self) -> None:
        """Seal what is left as the last chunk (possibly empty: the reader must see the end)."""
        self._emit(bytes(self._buffer), last=True)
        self._buffer.clear()

    def _emit(self, chunk: bytes, last: bool) -> None:
        sealed = self._aead.encrypt(self._index.to_bytes(12, "big"), chunk, _aad(self._header_bytes, last))
        self._raw.write(len(sealed).to_bytes(4, "big") + (b"\x01" if last else b"\x00") + sealed)
        self._index += 1


class _OpeningReader(io.RawIOBase):
    """Reads back what _SealingWriter wrote, checking every chunk and that the last one is there."""

    def __init__(self, raw: BinaryIO, key: bytes, header_bytes: bytes) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._raw = raw
        self._aead = AESGCM(key)
        self._header_bytes = header_bytes
        self._buffer = b""
        self._index = 0
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:  # type: ignore[override]
        while not self._buffer and not self._done:
            self._next_chunk()
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size

    def _next_chunk(self) -> None:
        from cryptography.exceptions import InvalidTag

        frame = self._raw.read(5)
        if len(frame) < 5:
            raise BackupError("the backup file is truncated (its last chunk is missing)")
        length, last = int.from_bytes(frame[:4], "big"), frame[4] == 1
        sealed = self._raw.read(length)
        if len(sealed) < length:
            raise BackupError("the backup file is truncated")
        try:
            self._buffer = self._aead.decrypt(self._index.to_bytes(12, "big"), sealed, _aad(self._header_bytes, last))
        except InvalidTag:
            raise BackupError(f"the backup file is damaged (chunk {self._index} fails authentication)") from None
        self._index += 1
        if last:
            self._done = True
            if self._raw.read(1):
                raise BackupError("the backup file has data after its last chunk")


# --- reading -------------------------------------------------------------------------------------------------------


def _read_header(raw: BinaryIO, path: Path) -> tuple[dict[str, Any], bytes]:
    if raw.read(len(MAGIC)) != MAGIC:
        raise BackupError(f"{path} is not a callcenter backup")
    length = int.from_bytes(raw.read(4), "big")
    if not 0 < length <= _MAX_HEADER_BYTES:
        raise BackupError(f"{path} has a damaged header")
    header_bytes = raw.read(length)
    try:
        header = json.loads(header_bytes)
    except ValueError:
        header = None
    if not isinstance(header, dict) or not {"format", "backend", "created_at"} <= header.keys():
        raise BackupError(f"{path} has a damaged header")
    if header["format"] != FORMAT_VERSION:
        raise BackupError(f"{path} is in backup format {header['format']}; this version reads {FORMAT_VERSION}")
    return header, header_bytes


def read_info(path: Path) -> BackupInfo:
    """What the file's header says (no passphrase needed)."""
    path = Path(path)
    with open(path, "rb") as raw:
        header, _ = _read_header(raw, path)
    return BackupInfo(path, header["backend"], header.get("revision"), header["created_at"],
                      bool(header.get("encryption")), path.stat().st_size)


@contextlib.contextmanager
def _payload_reader(path: Path, passphrase: str | None) -> Iterator[IO[bytes]]:
    """Open a backup: a stream of the database dump (decrypted, decompressed); checks the passphrase first."""
    with open(path, "rb") as raw:
        header, header_bytes = _read_header(raw, path)
        source: IO[bytes] = raw
        if header.get("encryption"):
            if passphrase is None:
                raise BackupError("this backup is encrypted: give its passphrase (--passphrase-env VAR or "
                                  "BACKUP_PASSPHRASE)")
            key = _key_from_header(header, passphrase)
            source = io.BufferedReader(_OpeningReader(raw, key, header_bytes), CHUNK_BYTES)  # type: ignore[assignment]
        with gzip.GzipFile(fileobj=source, mode="rb") as payload:
            yield payload  # type: ignore[misc]


def _copy_checked(source: IO[bytes], target: IO[bytes]) -> None:
    """Copy, turning a damaged gzip stream into a BackupError."""
    try:
        shutil.copyfileobj(source, target, _COPY_BYTES)
    except BrokenPipeError:
        raise
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
        raise BackupError(f"the backup file is damaged ({exc})") from None


# --- restoring -----------------------------------------------------------------------------------------------------


def user_tables_with_rows(engine: Engine) -> list[str]:
    """Tables (other than Alembic's) holding at least one row: a database with none may be overwritten freely."""
    inspector = sa.inspect(engine)
    names = [name for name in inspector.get_table_names() if name != "alembic_version"]
    preparer = engine.dialect.identifier_preparer
    with engine.connect() as connection:
        return [name for name in names
                if connection.exec_driver_sql(f"SELECT 1 FROM {preparer.quote(name)} LIMIT 1").first() is not None]


def check_revision(revision: str | None) -> None:
    """Refuse a backup whose schema revision this version of the code does not know (a newer one)."""
    if revision is None:
        return
    from alembic.script.revision import RevisionError
    from alembic.util import CommandError

    try:
        known = migrate.scripts().get_revision(revision)
    except (CommandError, RevisionError):
        known = None
    if known is None:
        raise BackupError(f"the backup's schema is at revision {revision}, which this version of callcenter does "
                          "not know (a newer schema): restore it with the version that wrote it, or a later one")


def restore_backup(engine: Engine, path: Path, passphrase: str | None = None, force: bool = False) -> BackupInfo:
    """Replace the database's whole content by the backup's.

    Refuses a backup of the other backend, of an unknown (newer) schema, and, unless `force`, a database whose
    tables hold any row. Stop the web and worker processes first: the restore replaces every table.
    """
    path = Path(path)
    backend = backend_of(engine)
    if not path.is_file():
        raise BackupError(f"{path} does not exist")
    info = read_info(path)
    if info.backend != backend:
        raise BackupError(f"{path} is a {info.backend} backup; the database is {backend}")
    check_revision(info.revision)
    with _payload_reader(path, passphrase) as payload:
        if not force:
            filled = user_tables_with_rows(engine)
            if filled:
                raise BackupError(f"the database is not empty ({len(filled)} tables hold rows, e.g. {filled[0]}); "
                                  "restoring would overwrite them: use --force to replace its content")
        if backend == "sqlite":
            _sqlite_restore(engine, payload)
        else:
            _pg_restore(engine, payload)
    # Pooled connections may hold the old schema's prepared statements and caches.
    engine.dispose()
    return info


def _sqlite_restore(engine: Engine, payload: IO[bytes]) -> None:
    """Write the snapshot to a scratch file, check it, then copy it over the live database with the backup API
    (one write transaction: other connections see the old database or the new one, never a mix)."""
    live_file = engine.url.database
    folder = Path(live_file).resolve().parent if live_file and live_file != ":memory:" else None
    with tempfile.TemporaryDirectory(prefix=".cc-restore-", dir=folder) as scratch:
        snapshot = Path(scratch) / "snapshot.sqlite"
        with open(snapshot, "wb") as target:
            _copy_checked(payload, target)
        source = sqlite3.connect(snapshot)
        try:
            try:
                verdict = source.execute("PRAGMA quick_check").fetchone()
            except sqlite3.DatabaseError as exc:
                raise BackupError(f"the backup holds no valid SQLite database ({exc})") from None
            if verdict != ("ok",):
                raise BackupError(f"the backup's SQLite database is damaged ({verdict})")
            raw = engine.raw_connection()
            try:
                live: sqlite3.Connection = raw.driver_connection  # type: ignore[assignment]
                source.backup(live, pages=-1)
            finally:
                raw.close()
        finally:
            source.close()


# Drops everything the restore brings back, in the same transaction as the restore.
_PG_EMPTY_SCHEMA = """
DO $$
DECLARE item record;
BEGIN
  FOR item IN SELECT c.relname, c.relkind FROM pg_class c
              WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
  LOOP
    EXECUTE format(CASE item.relkind WHEN 'v' THEN 'DROP VIEW IF EXISTS %I CASCADE'
                                     WHEN 'm' THEN 'DROP MATERIALIZED VIEW IF EXISTS %I CASCADE'
                                     WHEN 'S' THEN 'DROP SEQUENCE IF EXISTS %I CASCADE'
                                     WHEN 'f' THEN 'DROP FOREIGN TABLE IF EXISTS %I CASCADE'
                                     ELSE 'DROP TABLE IF EXISTS %I CASCADE' END, item.relname);
  END LOOP;
  FOR item IN SELECT t.typname FROM pg_type t
              WHERE t.typnamespace = current_schema()::regnamespace AND t.typtype IN ('e', 'd')
  LOOP
    EXECUTE format('DROP TYPE IF EXISTS %I CASCADE', item.typname);
  END LOOP;
END $$;
"""


def _pg_restore(engine: Engine, payload: IO[bytes]) -> None:
    """Empty the schema and replay the dump in one psql transaction: pg_restore turns the archive into SQL for
    psql, which stops at the first error and then rolls everything back."""
    target, env = _libpq_target(engine)
    # A web or worker process still connected holds locks on the tables: fail after a while rather than wait.
    env["PGOPTIONS"] = f"{env.get('PGOPTIONS', '')} -c lock_timeout={PG_LOCK_TIMEOUT_MS}".strip()
    with tempfile.TemporaryFile() as restore_errors, tempfile.TemporaryFile() as psql_errors:
        converter = subprocess.Popen(
            [pg_binary("pg_restore"), "--no-owner", "--no-privileges", "--file=-"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=restore_errors, env=env)
        assert converter.stdin is not None and converter.stdout is not None
        psql = subprocess.Popen(
            [pg_binary("psql"), "--no-psqlrc", "--quiet", "--single-transaction", "--set=ON_ERROR_STOP=1",
             f"--command={_PG_EMPTY_SCHEMA}", "--file=-", f"--dbname={target}"],
            stdin=converter.stdout, stdout=subprocess.DEVNULL, stderr=psql_errors, env=env)
        converter.stdout.close()  # psql owns the pipe now; pg_restore sees a broken pipe if psql stops
        try:
            _copy_checked(payload, converter.stdin)
        except BrokenPipeError:
            pass  # the converter stopped; its exit status says why
        except BaseException:
            # A damaged file: psql has not seen the end of its input, so it has committed nothing; stop it
            # before it does.
            psql.kill()
            converter.kill()
            psql.wait()
            converter.wait()
            raise
        finally:
            with contextlib.suppress(BrokenPipeError):
                converter.stdin.close()
        converter_code = converter.wait()
        psql_code = psql.wait()
        if converter_code != 0 or psql_code != 0:
            restore_errors.seek(0)
            psql_errors.seek(0)
            detail = (restore_errors.read() + psql_errors.read()).decode(errors="replace").strip()
            hint = " (stop the web and worker processes first)" if "lock timeout" in detail else ""
            raise BackupError(f"the restore failed and was rolled back{hint}: {detail}")


# --- retention -----------------------------------------------------------------------------------------------------


def prune_backups(folder: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` backups this module named in `folder`; returns the deleted files.

    Only files named like `default_path` are considered, so other files in the folder are never touched.
    """
    folder = Path(folder)
    if keep < 1 or not folder.is_dir():
        return []
    ours = sorted((item for item in folder.iterdir() if item.is_file() and NAME_PATTERN.fullmatch(item.name)),
                  key=lambda item: item.name, reverse=True)
    deleted = ours[keep:]
    for item in deleted:
        item.unlink(missing_ok=True)
    return deleted
