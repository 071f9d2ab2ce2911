-- Creates the database that holds Dagster's own run, event and schedule storage.
CREATE DATABASE {database}
