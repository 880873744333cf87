"""torch intra-op threads = min(usable cores, OMP_NUM_THREADS)."""

from __future__ import annotations

import pytest

from job_code import sm_contract


@pytest.mark.parametrize(
    ("cores", "omp", "expected"),
    [(2, None, 2), (2, "1", 1), (2, "8", 2), (4, "3", 3), (2, "", 2), (2, "zero", 2), (2, "0", 2)],
)
def test_cpu_threads_never_exceed_the_cores(monkeypatch, cores, omp, expected):
    monkeypatch.setattr(sm_contract, "usable_cores", lambda: cores)
    if omp is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", omp)
    assert sm_contract.cpu_threads() == expected


def test_usable_cores_is_positive():
    assert sm_contract.usable_cores() >= 1


def test_configure_cpu_threads_sets_torch(monkeypatch):
    import torch

    before = torch.get_num_threads()
    monkeypatch.setattr(sm_contract, "usable_cores", lambda: 1)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    try:
        sm_contract.configure_cpu_threads()
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
