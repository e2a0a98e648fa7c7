"""The daily backup: one job a day (the ticker enqueues it), writing a backup and pruning old ones."""

from __future__ import annotations

from pathlib import Path

from flask import current_app

from callcenter.extensions import db
from callcenter.services import backups


def daily_backup(day: str) -> str:
    """Back the database up into BACKUP_DIR and keep its newest BACKUP_KEEP backups; returns the file written.

    `day` (the local date it is for) only names the job; a second run of the same day writes one more backup,
    which retention absorbs.
    """
    config = current_app.config
    folder = Path(config["BACKUP_DIR"])
    info = backups.write_backup(db.engine, backups.default_path(folder), passphrase=config["BACKUP_PASSPHRASE"])
    backups.prune_backups(folder, config["BACKUP_KEEP"])
    return str(info.path)
