"""Configuration, resolved once from the environment when Definitions or a command are built."""

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    """Every knob the environment may turn; each field names its variable in `from_env`."""

    home: Path
    database_url: str | None = None
    landing_dir: Path | None = None
    max_signals_per_user_per_day: int | None = None
    breaker_error_rate: float = 0.05

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        home = Path(env.get("DISTILLERY_HOME", ".distillery")).resolve()
        cap = env.get("DISTILLERY_MAX_SIGNALS_PER_USER_PER_DAY")
        return cls(
            home=home,
            database_url=env.get("DATABASE_URL") or None,
            landing_dir=Path(env["DISTILLERY_LANDING_DIR"]).resolve() if env.get("DISTILLERY_LANDING_DIR") else None,
            max_signals_per_user_per_day=int(cap) if cap else None,
            breaker_error_rate=float(env.get("DISTILLERY_BREAKER_ERROR_RATE", "0.05")),
        )

    @property
    def landing(self) -> Path:
        return self.landing_dir or self.home / "landing"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"
