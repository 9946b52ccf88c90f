"""Tests of the pure plans core (app/plans)."""
