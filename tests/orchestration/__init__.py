"""Tests of app/orchestration: intake, worker, plans in the database, changes in flight."""
