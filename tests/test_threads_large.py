"""Large fits and scoring calls get every usable core; the user's thread setting always stands."""

from __future__ import annotations

import os

import pytest

from audit import threads


def test_large_calls_get_every_core_small_ones_keep_the_plan(monkeypatch):
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    assert threads.rows_threads(threads.LARGE_ROWS - 1, environ={}) is None
    assert threads.rows_threads(threads.LARGE_ROWS, environ={}) == 2
    monkeypatch.setattr(threads, "usable_cores", lambda: 1)
    assert threads.rows_threads(10**6, environ={}) is None  # one core: nothing to widen


@pytest.mark.parametrize("env", [{"AUDIT_THREADS": "1"}, {"OMP_NUM_THREADS": "1"}])
def test_a_thread_count_the_user_set_stands(monkeypatch, env):
    monkeypatch.setattr(threads, "usable_cores", lambda: 4)
    assert threads.rows_threads(10**6, environ=env) is None


def test_the_runs_own_omp_setting_does_not_count_as_the_users(monkeypatch):
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("AUDIT_THREADS", raising=False)
    with threads.machine_threads(threads.ThreadPlan(1, 2, "test")):
        assert os.environ["OMP_NUM_THREADS"] == "1"
        assert threads.rows_threads(10**6) == 2
    assert "OMP_NUM_THREADS" not in os.environ
