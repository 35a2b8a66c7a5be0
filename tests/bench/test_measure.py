"""The benchmark's peak RSS is the measured command's own."""

from __future__ import annotations

import sys

from bench.measure import MiB, measure

# Touches every page, then holds them long enough to be sampled.
ALLOCATE = (
    "import time; x = bytearray({mib} * 1024 * 1024); x[::4096] = b'x' * (len(x) // 4096); "
    "time.sleep(0.2)"
)


def test_peak_rss_is_the_childs_own_not_its_parents_high_water_mark() -> None:
    grown = bytearray(400 * MiB)
    grown[::4096] = b"x" * (len(grown) // 4096)  # this process's high-water mark: > 400 MB
    del grown
    small = measure([sys.executable, "-c", ALLOCATE.format(mib=20)])
    large = measure([sys.executable, "-c", ALLOCATE.format(mib=200)])
    assert 20 * MiB < small.peak_rss < 100 * MiB
    assert 200 * MiB < large.peak_rss < 300 * MiB
