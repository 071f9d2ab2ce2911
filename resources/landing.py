"""The landing folder where client batches arrive as files, one file per batch."""

import os
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
from pydantic import Field

BATCH_SUFFIXES = (".ndjson", ".jsonl", ".json", ".parquet")
# The collector names each file after the moment it received the batch: batch-20261120T101530Z-000042.ndjson
RECEIVED_STAMP = re.compile(r"(\d{8}T\d{6})(\d{0,6})Z")


@dataclass(frozen=True)
class LandingFile:
    path: Path
    received_at: datetime

    @property
    def day(self) -> date:
        return self.received_at.date()


class LandingStore(dg.ConfigurableResource):
    """A local folder: new batches in its root, moved to `processed/` or `failed/` once committed."""

    root: str = Field(description="Folder the collector writes batch files into.")

    @property
    def path(self) -> Path:
        return Path(self.root)

    def pending(self, day: date | None = None) -> list[LandingFile]:
        """Complete batch files waiting in the root, oldest first (temp files are skipped)."""
        self.path.mkdir(parents=True, exist_ok=True)
        files = [LandingFile(path, received_at_of(path)) for path in batch_files_in(self.path)]
        if day is not None:
            files = [file for file in files if file.day == day]
        return sorted(files, key=lambda file: (file.received_at, file.path.name))

    def mark_processed(self, file: LandingFile) -> Path:
        return self._move(file, "processed")

    def mark_failed(self, file: LandingFile) -> Path:
        return self._move(file, "failed")

    def _move(self, file: LandingFile, folder: str) -> Path:
        target_dir = self.path / folder / file.day.isoformat()
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / file.path.name
        os.replace(file.path, target)
        return target


def batch_files_in(folder: Path) -> list[Path]:
    """Complete batch files in a folder, by name; dot-files are writes still under way."""
    return sorted(
        path for path in folder.iterdir()
        if path.is_file() and path.suffix in BATCH_SUFFIXES and not path.name.startswith(".")
    )


def received_at_of(path: Path) -> datetime:
    """The receive time in the file name, else the file's modification time (UTC)."""
    match = RECEIVED_STAMP.search(path.name)
    if match:
        stamp = datetime.strptime(match.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
        return stamp.replace(microsecond=int(match.group(2).ljust(6, "0")))
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)
