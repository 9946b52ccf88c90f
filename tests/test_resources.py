"""Finding the shipped folders (app/resources.py) and the mappings folder's default."""

from __future__ import annotations

from pathlib import Path

import pytest

import revflow.resources as resources
from revflow.config import load_settings
from revflow.resources import default_mappings_dir, default_plans_dir, shipped

ROOT = Path(__file__).resolve().parents[1]


def test_a_checkout_uses_its_own_top_level_folders():
    assert shipped("migrations") == ROOT / "migrations"
    assert shipped("mappings") == ROOT / "mappings"
    assert shipped("plans") == ROOT / "plans"


def test_without_a_checkout_the_packaged_copy_is_used(tmp_path, monkeypatch):
    packaged = tmp_path / "site" / "revflow" / "_shipped"
    (packaged / "migrations").mkdir(parents=True)
    (packaged / "migrations" / "env.py").write_text("")
    monkeypatch.setattr(resources, "CHECKOUT", tmp_path / "site")
    monkeypatch.setattr(resources, "PACKAGED", packaged)
    assert shipped("migrations") == packaged / "migrations"


def test_neither_copy_is_an_error_naming_both_places(tmp_path, monkeypatch):
    monkeypatch.setattr(resources, "CHECKOUT", tmp_path / "a")
    monkeypatch.setattr(resources, "PACKAGED", tmp_path / "b")
    with pytest.raises(FileNotFoundError, match=r"plans/ folder was not found.*a/plans.*b/plans"):
        shipped("plans")


def test_a_folder_without_the_marker_file_is_not_taken(tmp_path, monkeypatch):
    (tmp_path / "migrations").mkdir()  # someone else's migrations/, no env.py
    monkeypatch.setattr(resources, "CHECKOUT", tmp_path)
    monkeypatch.setattr(resources, "PACKAGED", tmp_path / "none")
    with pytest.raises(FileNotFoundError):
        shipped("migrations")


def test_mappings_default_is_the_working_directorys_folder_if_there_is_one(tmp_path, monkeypatch):
    (tmp_path / "mappings").mkdir()
    monkeypatch.chdir(tmp_path)
    assert default_mappings_dir() == Path("mappings")
    assert load_settings().mappings_dir == Path("mappings")


def test_mappings_default_elsewhere_is_the_shipped_mappings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_settings().mappings_dir == shipped("mappings")
    assert default_plans_dir() == shipped("plans")


def test_an_explicit_mappings_dir_is_kept(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REVFLOW_MAPPINGS_DIR", str(tmp_path / "mine"))
    assert load_settings().mappings_dir == tmp_path / "mine"
