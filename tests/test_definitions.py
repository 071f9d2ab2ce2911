import dagster as dg

from orchestration.definitions import build_definitions
from orchestration.settings import Settings

EXPECTED_ASSETS = {
    "raw_signals", "user_profiles", "profile_embeddings", "signal_archive", "profile_snapshot", "retention",
    "semantic_cache", "erasure_log", "pipeline_health",
}
EXPECTED_CHECKS = {
    ("raw_signals", "no_rows_outside_partition_day"),
    ("raw_signals", "no_duplicate_event_ids"),
    ("raw_signals", "reject_rate_under_threshold"),
    ("user_profiles", "every_user_has_a_fresh_profile"),
    ("user_profiles", "stored_profiles_validate"),
    ("user_profiles", "llm_calls_within_bound"),
    ("user_profiles", "no_injection_canary"),
    ("profile_embeddings", "dimension_matches_model"),
    ("profile_embeddings", "vectors_finite_and_unit_norm"),
    ("profile_embeddings", "every_profile_has_fresh_embedding"),
    ("profile_embeddings", "hnsw_recall_at_10"),
    ("signal_archive", "archive_matches_partition"),
    ("signal_archive", "archives_intact"),
    ("profile_snapshot", "snapshot_matches_read"),
    ("retention", "no_expired_day_held"),
    ("retention", "database_within_capacity"),
    ("semantic_cache", "no_expired_answer_servable"),
    ("semantic_cache", "answers_match_response_schema"),
    ("semantic_cache", "hit_rate_at_or_above_floor"),
    ("erasure_log", "erased_users_leave_no_rows"),
    ("erasure_log", "other_users_rows_kept"),
    ("erasure_log", "no_erased_user_in_live_stores"),
    ("erasure_log", "erasure_requests_within_cycle"),
    ("pipeline_health", "database_size_under_capacity"),
    ("pipeline_health", "processing_lag_under_threshold"),
    ("pipeline_health", "ingestion_accepting_signals"),
    ("pipeline_health", "landing_backlog_draining"),
    ("pipeline_health", "archive_backlog_clear"),
    ("pipeline_health", "semantic_cache_hit_rate_on_target"),
}
EXPECTED_JOBS = {
    "ingest_job", "distill_job", "nightly_lifecycle_job", "signal_archive_job", "profile_snapshot_job",
    "retention_job", "semantic_cache_job", "erasure_job", "pipeline_health_job",
}
EXPECTED_SENSORS = {
    "landing_sensor", "distill_backlog_sensor", "retention_capacity_sensor", "run_failure_alert_sensor",
    "run_success_resolve_sensor", "pipeline_health_after_runs_sensor", "semantic_cache_warm_sensor",
}
EXPECTED_SCHEDULES = {
    "nightly_lifecycle_schedule", "erasure_schedule", "semantic_cache_hourly_schedule", "pipeline_health_schedule",
}


def test_definitions_hold_every_asset_check_job_schedule_and_sensor(tmp_path):
    defs = build_definitions(Settings.from_env({"DISTILLERY_HOME": str(tmp_path)}))
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    assert {key.to_user_string() for key in graph.get_all_asset_keys()} == EXPECTED_ASSETS
    assert {(key.asset_key.to_user_string(), key.name) for key in graph.asset_check_keys} == EXPECTED_CHECKS
    assert {job.name for job in defs.resolve_all_job_defs()} - {"__ASSET_JOB"} == EXPECTED_JOBS
    assert {sensor.name for sensor in defs.sensors or []} == EXPECTED_SENSORS
    assert {schedule.name for schedule in defs.schedules or []} == EXPECTED_SCHEDULES


def test_settings_come_from_the_environment_only_when_asked(tmp_path):
    settings = Settings.from_env({
        "DISTILLERY_HOME": str(tmp_path),
        "DATABASE_URL": "postgresql://db.example/distillery",
        "DISTILLERY_MAX_SIGNALS_PER_USER_PER_DAY": "5000",
    })
    resources = build_definitions(settings).resources
    assert resources["postgres"].database_url == "postgresql://db.example/distillery"
    assert resources["ingestor"].max_signals_per_user_per_day == 5000
    assert resources["landing"].root == str(tmp_path / "landing")
    assert resources["archive_store"].root == str(tmp_path / "archive")
    assert resources["distiller"].provider == "local" and not resources["gemini"].enabled


def test_a_gemini_key_switches_the_llm_steps_to_gemini_without_showing_the_key(tmp_path, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "test-key")
    settings = Settings.from_env({"DISTILLERY_HOME": str(tmp_path), "GEMINI_API_KEY": "test-key"})
    assert "test-key" not in repr(settings)
    resources = build_definitions(settings).resources
    assert resources["distiller"].provider == "gemini"
    assert resources["embedder"].provider == "local"
