"""A CI-sized sample of the hostile-input suite (``benchmarks/hostile.py`` runs all of it).

Every family of :mod:`synthwatch.testing.hostile` is sampled (seeded), together with every case
that pins an issue (``Case.note``): each one, fed to the media layer, the label readers and the
provenance signals, must give a result or a typed error, the one its case expects when it says
so, never an untyped exception; nothing may be written beside the inputs and no worker may be
left behind. Crashes and hangs are bounded by the test timeout here and measured by the benchmark.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from synthwatch.media import sandbox
from synthwatch.provenance import isolation
from synthwatch.testing import hostile

PER_FAMILY = 2
SEED = 0


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[hostile.Case], Path]:
    root = tmp_path_factory.mktemp("hostile")
    cases = hostile.generate(root / "gen", seed=SEED, fuzz_per_format=2)
    return cases, root / "corpus"


def _sample(cases: list[hostile.Case], family: str) -> list[hostile.Case]:
    mine = [c for c in cases if c.family == family]
    pinned = [c for c in mine if c.note]
    rest = [c for c in mine if not c.note]
    k = 1 if family == "junk_tails" else PER_FAMILY  # each of those hashes a 3 GiB (sparse) file
    return pinned + random.Random(f"{SEED}:{family}").sample(rest, min(k, len(rest)))


def _listing(root: Path) -> set[bytes]:
    return {os.path.join(os.fsencode(d), os.fsencode(n)) for d, dirs, files in os.walk(root) for n in dirs + files}


@pytest.mark.timeout(600)
@pytest.mark.parametrize("family", hostile.FAMILIES)
def test_family_sample(corpus: tuple[list[hostile.Case], Path], family: str) -> None:
    cases, folder = corpus
    sample = _sample(cases, family)
    assert sample, family
    paths = [hostile.materialise(c, folder) for c in sample]
    before = _listing(folder)
    problems = []
    for case, path in zip(sample, paths, strict=True):
        ops = ("media", "labels", "provenance", "scan") if case.note else ("media", "labels", "provenance")
        for o in hostile.run_case(case, path, ops):
            if o.status in ("untyped", "expected"):
                problems.append(f"{o.case!a} [{o.operation}] {o.status} {o.code}: {o.detail[:200]!a}")
    assert not problems, "\n".join(problems)
    assert _listing(folder) == before  # nothing written beside the inputs
    idle = sandbox.MAX_IDLE
    assert len(sandbox.worker_pids()) <= idle and len(isolation.worker_pids()) <= idle  # no worker left behind


def test_the_generator_is_seeded(tmp_path: Path, corpus: tuple[list[hostile.Case], Path]) -> None:
    cases, _ = corpus
    chosen = ("fuzzed", "random_bytes", "containers", "bombs")
    again = hostile.generate(tmp_path, seed=SEED, fuzz_per_format=2, families=chosen)
    mine = [c for c in cases if c.family in chosen]
    assert [(c.name, len(c.data)) for c in again] == [(c.name, len(c.data)) for c in mine]
    hand_built = [c for c in mine if c.family in ("random_bytes", "containers")]
    assert [c.data for c in hand_built] == [c.data for c in again if c.family in ("random_bytes", "containers")]
    other = hostile.generate(tmp_path, seed=SEED + 1, fuzz_per_format=2, families=("random_bytes",))
    assert [c.data for c in other] != [c.data for c in cases if c.family == "random_bytes"]
    assert {c.family for c in cases} == set(hostile.FAMILIES)


def test_hostile_text_reaches_every_name(corpus: tuple[list[hostile.Case], Path]) -> None:
    cases, _ = corpus
    names = {c.name for c in cases if c.family == "odd_names"}
    for needle in ("[/]", "[link=file:/etc/passwd]", "\x1b[", "{0}", "$(", "concat:", "\udcff"):
        assert any(needle in n for n in names), needle
