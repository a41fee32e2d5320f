"""The demo's sample logs: same seed, same bytes; the outage where the story puts it."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from dvlab.simulate.sample import OUTAGE, OUTAGE_SITE, write_sample


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    a = write_sample(tmp_path / "a", seed=3, records=2000)
    b = write_sample(tmp_path / "b", seed=3, records=2000)
    c = write_sample(tmp_path / "c", seed=4, records=2000)
    assert sum(a.values()) == 2000
    for name in ("api.jsonl.gz", "provisioning.log", "nett-syslog.log"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / "provisioning.log").read_bytes() != (
        tmp_path / "c" / "provisioning.log"
    ).read_bytes()
    assert list(a.values()) == list(b.values())
    assert c  # another seed still writes every file


def test_errors_belong_to_the_outage_site_and_window(tmp_path: Path) -> None:
    write_sample(tmp_path, seed=7, records=6000)
    lines = gzip.decompress((tmp_path / "api.jsonl.gz").read_bytes()).decode().splitlines()
    errors = [json.loads(line) for line in lines if json.loads(line)["level"] == "error"]
    assert errors
    start, end = (t.strftime("%Y-%m-%dT%H:%M:%S") for t in OUTAGE)
    for record in errors:
        assert record["dc"] == OUTAGE_SITE
        assert start <= record["@timestamp"][:19] < end
    # requests are followed across records: some id appears more than once
    ids = [json.loads(line)["request_id"] for line in lines]
    assert len(set(ids)) < len(ids)
