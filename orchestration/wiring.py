"""Builds the resource objects from Settings: the only place the environment meets the code."""

from assets.ingestion import SignalIngestor
from orchestration.settings import Settings
from resources.landing import LandingStore
from resources.postgres import PostgresResource


def build_resources(settings: Settings) -> dict[str, object]:
    postgres = PostgresResource(database_url=settings.database_url, home=str(settings.home))
    return {
        "postgres": postgres,
        "ingestor": SignalIngestor(
            postgres=postgres,
            max_signals_per_user_per_day=settings.max_signals_per_user_per_day,
            breaker_error_rate=settings.breaker_error_rate,
        ),
        "landing": LandingStore(root=str(settings.landing)),
    }
