"""Configuration, resolved once from the environment when Definitions or a command are built."""

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    """Every knob of the product; `from_env` names the variable behind each (docs/operations.md lists them)."""

    home: Path
    database_url: str | None = None
    landing_dir: Path | None = None
    archive_root: str | None = None
    max_signals_per_user_per_day: int | None = None
    breaker_error_rate: float = 0.05
    gemini_api_key: str | None = field(default=None, repr=False)
    distiller: str = "local"
    embedder: str = "local"
    embedding_dimensions: int = 768
    reasoner: str = "local"
    erasure_salt: str | None = field(default=None, repr=False)
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = dict(os.environ if environ is None else environ)
        home = Path(env.get("DISTILLERY_HOME", ".distillery")).resolve()
        cap = env.get("DISTILLERY_MAX_SIGNALS_PER_USER_PER_DAY")
        key = env.get("GEMINI_API_KEY") or None
        # With a key, Gemini is the default for every LLM step; each can be sent back to local on its own.
        llm_default = "gemini" if key else "local"
        return cls(
            home=home,
            database_url=env.get("DATABASE_URL") or None,
            landing_dir=Path(env["DISTILLERY_LANDING_DIR"]).resolve() if env.get("DISTILLERY_LANDING_DIR") else None,
            archive_root=env.get("DISTILLERY_ARCHIVE_ROOT") or None,
            max_signals_per_user_per_day=int(cap) if cap else None,
            breaker_error_rate=float(env.get("DISTILLERY_BREAKER_ERROR_RATE", "0.05")),
            gemini_api_key=key,
            distiller=env.get("DISTILLERY_DISTILLER", llm_default),
            embedder=env.get("DISTILLERY_EMBEDDER", "local"),
            embedding_dimensions=int(env.get("DISTILLERY_EMBEDDING_DIMENSIONS", "768")),
            reasoner=env.get("DISTILLERY_REASONER", llm_default),
            erasure_salt=env.get("DISTILLERY_ERASURE_SALT") or None,
            environ=env,
        )

    @property
    def landing(self) -> Path:
        return self.landing_dir or self.home / "landing"

    @property
    def archive(self) -> str:
        return self.archive_root or str(self.home / "archive")

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"
