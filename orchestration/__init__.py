"""Definitions, jobs, schedules, sensors and the `distillery` command line."""
