"""Builds the resource objects from Settings: the only place configuration meets the code."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg

from assets.ingestion import SignalIngestor
from assets.user_profiles import DistillerResource
from orchestration.analyst import archive_store
from orchestration.ops_sensors import ops_resources
from orchestration.settings import Settings
from resources.embedder import EmbedderResource
from resources.erasure import ErasurePolicy, resolve_salt
from resources.gemini import GeminiResource
from resources.landing import LandingStore
from resources.postgres import PostgresResource
from resources.semantic_cache import SemanticCacheResource


def build_resources(settings: Settings) -> dict[str, object]:
    postgres = PostgresResource(database_url=settings.database_url, home=str(settings.home))
    # The key is read by Dagster when the resource is built, so the UI never shows it.
    gemini = GeminiResource(api_key=dg.EnvVar("GEMINI_API_KEY")) if settings.gemini_api_key else GeminiResource()
    embedder = EmbedderResource(
        provider=settings.embedder,
        gemini=gemini if settings.embedder == "gemini" else None,
        output_dimensionality=settings.embedding_dimensions,
    )
    # Secrets are EnvVars, read when Dagster builds the resource and never shown in the UI; without a
    # configured salt a laptop gets a random one kept in $DISTILLERY_HOME/erasure-salt.
    erasure_salt = dg.EnvVar("DISTILLERY_ERASURE_SALT") if settings.erasure_salt else resolve_salt(settings.home, None)
    return {
        "postgres": postgres,
        "ingestor": SignalIngestor(
            postgres=postgres,
            max_signals_per_user_per_day=settings.max_signals_per_user_per_day,
            breaker_error_rate=settings.breaker_error_rate,
            erasure_salt=erasure_salt,
        ),
        "landing": LandingStore(root=str(settings.landing)),
        "gemini": gemini,
        "distiller": DistillerResource(postgres=postgres, gemini=gemini, provider=settings.distiller),
        "embedder": embedder,
        "archive_store": archive_store(settings),
        "semantic_cache": SemanticCacheResource(
            postgres=postgres, embedder=embedder, gemini=gemini, provider=settings.reasoner
        ),
        "erasure": ErasurePolicy(salt=erasure_salt),
        **ops_resources(settings, postgres, settings.environ),
    }


@contextmanager
def built_resources(settings: Settings | None = None) -> Iterator[Any]:
    """The resources as Dagster builds them (EnvVars read now), for commands that run outside a run."""
    with dg.build_resources(build_resources(settings or Settings.from_env())) as resources:
        yield resources
