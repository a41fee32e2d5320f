"""The status and trace curated queries on a small lab written by hand.

Four workflows at 10:03 UTC, each in one of the states the questions tell
apart; every expected row below follows from the fixture by reading it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dvlab.analyses.lineage import draw, trace
from dvlab.analyses.status import render, status
from dvlab.errors import BadInputError
from dvlab.lab.ingest import ingest

DAY = "2026-11-30T"
AT = DAY + "10:03:00Z"

TASKS = f"""\
task_id,workflow_id,workflow_type,parent_task_id,name,site,service,target_kind,target_id,state,attempt,created_at,started_at,finished_at,error_class,error_message,idempotency_key,retry_policy,correlation_id
r1,w1,provision_vm,,provision_vm,osl1,scheduler,workflow,w1,failed,1,{DAY}10:00:00Z,{DAY}10:00:00Z,{DAY}10:05:00Z,DependencyUnavailable,allocate_ip failed,idem-w1,backoff(1),c1
a1,w1,provision_vm,r1,allocate_ip,sto1,nett,ip,ip-1,failed,3,{DAY}10:00:01Z,{DAY}10:00:02Z,{DAY}10:05:00Z,DependencyUnavailable,nett down,,backoff(3),c1
r2,w2,create_network,,create_network,osl1,scheduler,workflow,w2,succeeded,1,{DAY}10:01:00Z,{DAY}10:01:00Z,{DAY}10:04:00Z,,,idem-w2,backoff(1),c2
b2,w2,create_network,r2,configure_router,sto1,nett,router,rtr-1,succeeded,2,{DAY}10:01:01Z,{DAY}10:01:02Z,{DAY}10:04:00Z,,,,backoff(5),c2
r3,w3,attach_volume,,attach_volume,osl1,scheduler,workflow,w3,succeeded,1,{DAY}10:02:00Z,{DAY}10:02:00Z,{DAY}10:06:00Z,,,idem-w3,backoff(1),c3
c3,w3,attach_volume,r3,attach_volume,sto1,storage,volume,vol-1,failed,1,{DAY}10:02:01Z,{DAY}10:02:02Z,{DAY}10:02:30Z,StorageIOError,io error,,none,c3
d3,w3,attach_volume,r3,register_attachment,sto1,inventory,volume,vol-1,succeeded,1,{DAY}10:02:31Z,{DAY}10:02:32Z,{DAY}10:06:00Z,,,idem-d3,backoff(5),c3
r4,w4,provision_vm,,provision_vm,osl1,scheduler,workflow,w4,succeeded,1,{DAY}10:02:40Z,{DAY}10:02:40Z,{DAY}10:08:00Z,,,idem-w4,backoff(1),c4
e4,w4,provision_vm,r4,create_port,hel1,nett,port,prt-1,failed,2,{DAY}10:02:41Z,{DAY}10:02:42Z,{DAY}10:02:50Z,Timeout,no answer,,backoff(2),c4
"""

#: (task, to_state, time, attempt, reason), numbered per task in this order
CHANGES = [
    ("r1", "running", "10:00:00", 1, None),
    ("a1", "pending", "10:00:01", 0, None),
    ("a1", "running", "10:00:02", 1, None),
    ("a1", "retrying", "10:00:07", 1, "DependencyUnavailable"),
    ("a1", "running", "10:01:57", 2, None),
    ("a1", "retrying", "10:02:02", 2, "DependencyUnavailable"),
    ("a1", "running", "10:04:55", 3, None),
    ("a1", "failed", "10:05:00", 3, "DependencyUnavailable"),
    ("r1", "failed", "10:05:00", 1, "DependencyUnavailable"),
    ("r2", "running", "10:01:00", 1, None),
    ("b2", "pending", "10:01:01", 0, None),
    ("b2", "running", "10:01:02", 1, None),
    ("b2", "retrying", "10:01:05", 1, "Conflict"),
    ("b2", "running", "10:03:30", 2, None),
    ("b2", "succeeded", "10:04:00", 2, None),
    ("r2", "succeeded", "10:04:00", 1, None),
    ("r3", "running", "10:02:00", 1, None),
    ("c3", "pending", "10:02:01", 0, None),
    ("c3", "running", "10:02:02", 1, None),
    ("c3", "failed", "10:02:30", 1, "StorageIOError"),
    ("d3", "pending", "10:02:31", 0, None),
    ("d3", "running", "10:02:32", 1, None),
    ("d3", "succeeded", "10:06:00", 1, None),
    ("r3", "succeeded", "10:06:00", 1, None),
    ("r4", "running", "10:02:40", 1, None),
    ("e4", "pending", "10:02:41", 0, None),
    ("e4", "running", "10:02:42", 1, None),
    ("e4", "retrying", "10:02:45", 1, "Timeout"),
    ("e4", "running", "10:02:47", 2, None),
    ("e4", "failed", "10:02:50", 2, "Timeout"),
    ("r4", "succeeded", "10:08:00", 1, None),
]

#: (id, type, time, task, correlation, cause, stream seq); published when stamped, but for
#: the skewed one, which the stream got last
EVENTS = [
    ("ev-c3-start", "dv.task.started", "10:02:02", "c3", "c3", None, 1),
    ("ev-c3-effect", "dv.volume.attached", "10:02:20", "c3", "c3", "ev-c3-start", 3),
    ("ev-c3-failed", "dv.task.failed", "10:02:30", "c3", "c3", "ev-c3-effect", 2),
    # stamped by a clock running behind: a second before the event that caused it
    ("ev-c3-skewed", "dv.task.note", "10:02:19", "c3", "c3", "ev-c3-effect", 5),
    ("ev-e4-effect", "dv.port.created", "10:02:44", "e4", "c4", "ev-missing", 4),
]

LOGS = [
    {
        "ts": DAY + "10:02:29Z",
        "level": "error",
        "service": "storage",
        "site": "sto1",
        "msg": "attach failed: io error",
        "correlation_id": "c3",
        "task_id": "c3",
    },
    {
        "ts": DAY + "10:02:30Z",
        "level": "error",
        "service": "scheduler",
        "site": "osl1",
        "msg": "attach_volume failed",
        "correlation_id": "c3",
    },
]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("status")
    (folder / "tasks.csv").write_text(TASKS, encoding="utf-8")
    seqs: dict[str, int] = {}
    rows = ["task_id,seq,to_state,ts,attempt,reason"]
    for task, state, time, attempt, reason in CHANGES:
        seqs[task] = seqs.get(task, 0) + 1
        rows.append(f"{task},{seqs[task]},{state},{DAY}{time}Z,{attempt},{reason or ''}")
    (folder / "transitions.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    with (folder / "events.jsonl").open("w", encoding="utf-8") as fh:
        for event_id, kind, time, task, corr, cause, seq in EVENTS:
            published = "10:02:40" if event_id == "ev-c3-skewed" else time
            envelope = {
                "specversion": "1.0",
                "id": event_id,
                "type": kind,
                "source": "dv/sto1/svc",
                "time": f"{DAY}{time}Z",
                "correlationid": corr,
                "subject": task,
                "data": {"task_id": task},
            }
            if cause:
                envelope["causationid"] = cause
            fh.write(
                json.dumps(
                    {
                        "stream": "S",
                        "seq": seq,
                        "subject": "dv.x",
                        "time": f"{DAY}{published}Z",
                        "data": envelope,
                    }
                )
                + "\n"
            )
    (folder / "logs.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in LOGS), encoding="utf-8"
    )
    path = folder / "lab.duckdb"
    summary = ingest(
        path,
        [str(folder / n) for n in ("tasks.csv", "transitions.csv", "events.jsonl", "logs.jsonl")],
    )
    assert summary.failed == [] and summary.total("rows_rejected") == 0
    return path


def small_lab(folder: Path, tasks: str, transitions: str) -> Path:
    """A lab of the task table ``tasks`` (CSV text) and the transitions ``transitions``
    (rows of task_id, seq, to_state, ts, attempt, reason)."""
    (folder / "tasks.csv").write_text(tasks, encoding="utf-8")
    (folder / "transitions.csv").write_text(
        "task_id,seq,to_state,ts,attempt,reason\n" + transitions, encoding="utf-8"
    )
    path = folder / "lab.duckdb"
    ingest(path, [str(folder / "tasks.csv"), str(folder / "transitions.csv")])
    return path


def test_a_failed_tasks_error_class_is_its_own_the_transitions_reason_else(
    tmp_path: Path,
) -> None:
    """The reason of the change to failed had been given as the error class, over the
    class the task table holds (equal in the simulator's tables, not in others')."""
    header = TASKS.splitlines()[0]
    path = small_lab(
        tmp_path,
        header
        + f"""
own,w1,attach_volume,,attach_volume,sto1,storage,volume,vol-1,failed,1,{DAY}10:02:01Z,{DAY}10:02:02Z,{DAY}10:02:30Z,StorageIOError,io error,,none,c1
none,w2,attach_volume,,attach_volume,sto1,storage,volume,vol-2,failed,1,{DAY}10:02:01Z,{DAY}10:02:02Z,{DAY}10:02:30Z,,io error,,none,c2
""",
        f"own,1,running,{DAY}10:02:02Z,1,\nown,2,failed,{DAY}10:02:30Z,1,step gave up\n"
        f"none,1,running,{DAY}10:02:02Z,1,\nnone,2,failed,{DAY}10:02:30Z,1,Timeout\n",
    )

    got = {r["task_id"]: r["error_class"] for r in status(path, at=AT).failed}

    assert got == {"own": "StorageIOError", "none": "Timeout"}


def test_a_moment_before_the_task_history_is_refused_and_one_after_it_said(lab: Path) -> None:
    """A mistyped year had answered 0 running, 0 failed: an all-clear for a moment of which
    the lab knows nothing. After the history's last change, the answers hold but say so."""
    with pytest.raises(
        BadInputError, match=r"the task history begins later, at 2026-11-30T10:00:00\.000Z"
    ):
        status(lab, at="2025-11-30T10:03:00Z")

    later = status(lab, at="2030-01-01T00:00:00Z")
    assert later.history_ends is not None
    assert later.history_ends.isoformat() == "2026-11-30T10:08:00+00:00"  # r4 succeeded last
    assert "(the task history ends at 2026-11-30T10:08:00.000Z" in render(later)[1]
    assert status(lab, at=AT).history_ends is None
    assert not render(status(lab, at=AT))[1]


def test_a_workflow_of_tasks_without_parents_is_one_workflow(tmp_path: Path) -> None:
    """A task table without parent_task_id: each task had stood for the workflow, and the
    workflow was listed once per task; --site, looking for steps under a root, found none."""
    path = small_lab(
        tmp_path,
        "task_id,workflow_id,name,site,state,created_at,started_at,finished_at\n"
        f"t1,w1,plan,osl1,running,{DAY}10:00:00Z,{DAY}10:00:01Z,\n"
        f"t2,w1,apply,osl1,running,{DAY}10:00:02Z,{DAY}10:00:03Z,\n",
        f"t1,1,running,{DAY}10:00:01Z,1,\n"
        f"t2,1,running,{DAY}10:00:03Z,1,\nt2,2,retrying,{DAY}10:01:00Z,1,Timeout\n",
    )

    for site in (None, "osl1"):
        got = status(path, at=AT, site=site).workflows
        assert [(r["workflow_id"], r["mode"], r["task_id"]) for r in got] == [
            ("w1", "retrying", "t2")
        ]


def test_what_is_running(lab: Path) -> None:
    got = status(lab, at=AT)
    # a1 and b2 wait to retry; c3 and e4 failed; the roots of open workflows run
    assert sorted(r["task_id"] for r in got.running) == ["d3", "r1", "r2", "r3", "r4"]
    d3 = next(r for r in got.running if r["task_id"] == "d3")
    assert d3["running_for"].total_seconds() == 28  # 10:02:32 to 10:03:00


def test_what_failed_why_what_it_touched_and_whether_to_retry(lab: Path) -> None:
    got = {r["task_id"]: r for r in status(lab, at=AT).failed}
    assert sorted(got) == ["c3", "e4"]
    c3, e4 = got["c3"], got["e4"]
    assert (c3["error_class"], c3["error_message"]) == ("StorageIOError", "io error")
    assert c3["first_error"] == "attach failed: io error"  # the earlier of its two error logs
    assert (c3["target_kind"], c3["target_id"], c3["others_on_target"]) == ("volume", "vol-1", 1)
    assert c3["others"] == ["d3 running"]
    assert c3["retry_verdict"] == "unsafe"  # retry policy none, whatever else holds
    assert c3["side_effects"] == 1
    # no key, and a side effect (port.created) already happened
    assert (e4["retry_verdict"], e4["side_effects"]) == ("reconcile first", 1)
    assert "prt-1" in e4["retry_reason"] and "dv.port.created" in e4["retry_reason"]
    assert e4["first_error"] is None


@pytest.mark.parametrize("window", [0, -5, 10**20])
def test_a_window_out_of_range_is_refused_in_plain_words(lab: Path, window: int) -> None:
    with pytest.raises(
        BadInputError, match=r"--window must be from 1 second to \d+ \(a century\)"
    ):
        status(lab, at=AT, window=window)


def test_a_failure_outside_the_window_does_not_count(lab: Path) -> None:
    # c3 failed 30 s before the moment, e4 10 s before
    assert [r["task_id"] for r in status(lab, at=AT, window=20).failed] == ["e4"]
    assert status(lab, at=AT, window=5).failed == []


def test_workflows_blocked_retrying_and_reduced(lab: Path) -> None:
    got = sorted((r["mode"], r["workflow_id"], r["task_id"]) for r in status(lab, at=AT).workflows)
    assert got == [
        ("blocked", "w1", "a1"),  # waiting on nett, which did not answer
        ("reduced", "w3", "c3"),  # went on after attach_volume failed
        ("reduced", "w4", "e4"),
        ("retrying", "w2", "b2"),  # waiting after a Conflict
    ]
    later = sorted(
        (r["mode"], r["workflow_id"]) for r in status(lab, at=DAY + "10:03:40Z").workflows
    )
    assert later == [("blocked", "w1"), ("reduced", "w3"), ("reduced", "w4")]  # b2 running again


def test_dependencies(lab: Path) -> None:
    got = [(r["service"], r["site"], r["state"]) for r in status(lab, at=AT).dependencies]
    # nett at sto1: its latest attempt (a1 at 10:02:02) failed as unavailable
    assert got == [("nett", "sto1", "unavailable")]
    # at 10:01 the latest nett attempt at sto1 is a1's first (10:00:07); by 10:01:30 it is
    # b2's, which failed with a Conflict: no longer evidence of an outage
    assert status(lab, at=DAY + "10:01:30Z").dependencies == []
    assert (
        status(lab, at=DAY + "10:01:00Z")
        .dependencies[0]["evidence"]
        .startswith("latest attempt failed with DependencyUnavailable at 2026-11-30T10:00:07")
    )
    assert status(lab, at=DAY + "10:04:10Z").dependencies == []  # b2 succeeded at 10:04


def test_site_filter(lab: Path) -> None:
    got = status(lab, at=AT, site="hel1")
    assert [r["task_id"] for r in got.failed] == ["e4"]
    assert [r["workflow_id"] for r in got.workflows] == ["w4"]


def test_trace_from_a_target_shows_the_tree_and_the_gaps(lab: Path) -> None:
    relation = trace(lab, "vol-1")
    rows = [dict(zip(relation.columns, row, strict=True)) for row in relation.fetchall()]
    assert [(r["depth"], r["kind"], r["id"]) for r in rows] == [
        (0, "task", "r3"),
        (1, "task", "c3"),
        (2, "event", "ev-c3-start"),
        (2, "event", "ev-c3-effect"),
        (2, "event", "ev-c3-skewed"),  # after its cause, though its clock says earlier
        (2, "event", "ev-c3-failed"),
        (1, "task", "d3"),
    ]
    gaps = {r["id"]: r["gap"] for r in rows if r["gap"]}
    # ev-c3-failed (seq 2) reached the stream before its cause (seq 3)
    assert gaps == {"ev-c3-failed": "arrived before its cause (stream seq 2 < 3)"}
    text = draw(rows)
    assert text[0] == "correlation c3"
    assert "!! arrived before its cause" in text[6]


def test_trace_puts_a_child_task_after_the_parents_event_that_asked_for_it(
    tmp_path: Path,
) -> None:
    """The control plane created k at 10:00:01; the parent's event asking for it is
    stamped 10:00:02 by a site clock running ahead. The tree follows the cause."""
    header = TASKS.splitlines()[0]
    tasks = [
        f"p,w9,provision_vm,,provision_vm,osl1,scheduler,workflow,w9,succeeded,1,"
        f"{DAY}10:00:00Z,{DAY}10:00:00Z,{DAY}10:00:09Z,,,,,c9",
        f"k,w9,provision_vm,p,allocate_ip,sto1,nett,ip,ip-9,succeeded,1,"
        f"{DAY}10:00:01Z,{DAY}10:00:03Z,{DAY}10:00:04Z,,,,,c9",
        f"k2,w9,provision_vm,p,create_port,sto1,nett,port,prt-9,succeeded,1,"
        f"{DAY}10:00:05Z,{DAY}10:00:05Z,{DAY}10:00:06Z,,,,,c9",
    ]
    (tmp_path / "tasks.csv").write_text("\n".join([header, *tasks]) + "\n", encoding="utf-8")
    events = [
        ("ev-p-asked", "p", "10:00:02", None),
        ("ev-k-created", "k", "10:00:03", "ev-p-asked"),
    ]
    with (tmp_path / "events.jsonl").open("w", encoding="utf-8") as fh:
        for seq, (event_id, task, time, cause) in enumerate(events, start=1):
            envelope = {"specversion": "1.0", "id": event_id, "type": "dv.x",
                        "source": "dv/osl1/svc", "time": f"{DAY}{time}Z",
                        "correlationid": "c9", "subject": task, "data": {"task_id": task},
                        **({"causationid": cause} if cause else {})}  # fmt: skip
            record = {"stream": "S", "seq": seq, "subject": "dv.x", "time": f"{DAY}{time}Z"}
            fh.write(json.dumps({**record, "data": envelope}) + "\n")
    lab = tmp_path / "lab.duckdb"
    assert ingest(lab, [str(tmp_path / "tasks.csv"), str(tmp_path / "events.jsonl")]).failed == []

    relation = trace(lab, "w9")

    rows = [dict(zip(relation.columns, row, strict=True)) for row in relation.fetchall()]
    assert [(r["depth"], r["id"]) for r in rows] == [
        (0, "p"),
        (1, "ev-p-asked"),
        (1, "k"),  # after the event that asked for it, though created a second before it
        (2, "ev-k-created"),
        (1, "k2"),
    ]


def test_trace_names_a_cause_that_is_not_loaded(lab: Path) -> None:
    relation = trace(lab, "ev-e4-effect")
    rows = [dict(zip(relation.columns, row, strict=True)) for row in relation.fetchall()]
    assert {r["id"]: r["gap"] for r in rows if r["gap"]} == {
        "ev-e4-effect": "cause ev-missing not loaded"
    }


def test_an_unknown_id_is_an_error(lab: Path) -> None:
    with pytest.raises(
        BadInputError, match="no task or event in the lab belongs to work that carries 'nope'"
    ):
        trace(lab, "nope")


def test_what_a_task_table_leaves_out_is_left_out_of_the_text() -> None:
    """A task table without names, targets, services or workflows: the answers say what
    is known, never the word None."""
    from datetime import UTC, datetime, timedelta

    from dvlab.analyses.status import Status, render

    bare = {
        "name": None,
        "task_id": "t3",
        "service": "api",
        "site": None,
        "target_kind": None,
        "target_id": None,
        "attempt": None,
        "workflow_id": None,
    }
    answers = Status(
        at=datetime(2026, 12, 1, 10, tzinfo=UTC),
        site=None,
        running=[{**bare, "running_for": timedelta(seconds=5)}],
        failed=[
            {
                **bare,
                "failed_at": datetime(2026, 12, 1, 9, tzinfo=UTC),
                "error_class": None,
                "error_message": None,
                "first_error": None,
                "correlation_id": None,
                "others_on_target": 0,
                "others": [],
                "retry_verdict": "unknown",
                "retry_reason": "no retry policy",
            }
        ],
        dependencies=[{"service": "db", "site": None, "state": "down", "evidence": "probe"}],
        workflows=[
            {
                "mode": "blocked",
                "workflow_type": None,
                "workflow_id": None,
                "site": None,
                "since": None,
                "task": None,
                "task_id": "t3",
                "reason": "waiting",
            }
        ],
    )
    text = "\n".join(render(answers))
    assert "None" not in text
    assert "   t3 (api), attempt ?, for 5.0 s" in text
    assert "4. trying to affect: no target recorded for the task" in text
    assert "   blocked: ? since ?: t3: waiting" in text


def test_the_workflow_count_counts_workflows_not_reasons() -> None:
    """One workflow reduced for two reasons is two lines, and one reduced workflow."""
    from dvlab.analyses.status import Status, render

    def reduced(task_id: str, reason: str) -> dict[str, object]:
        return {
            "mode": "reduced",
            "workflow_type": "provision_vm",
            "workflow_id": "wf1",
            "site": "osl1",
            "since": None,
            "task": "attach",
            "task_id": task_id,
            "reason": reason,
        }

    answers = Status(
        at=None,
        site=None,
        running=[],
        failed=[],
        dependencies=[],
        workflows=[reduced("t1", "going on without a"), reduced("t2", "going on without b")],
    )
    lines = render(answers)
    assert "7. Workflows: 0 blocked, 0 retrying, 1 reduced" in lines
    # with no failed task, the three answers given under each say where they are
    failed = lines.index("2. What failed: 0 task(s)")
    assert lines[failed + 1].startswith("   (3. why, 4. what it was trying to affect")
    assert sum(line.startswith("   reduced: provision_vm wf1") for line in lines) == 2


@pytest.mark.parametrize(
    ("command", "name"),
    [
        (["status", "--at", AT], "answers.json"),
        (["trace", "w1"], "tree.json"),
        (["trace", "w1"], "tree.jsonl"),
    ],
)
def test_out_ending_in_json_writes_json(
    lab: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str], name: str
) -> None:
    """As with sql and timeline: without --format, --out's suffix says what to write."""
    from dvlab.cli import main

    out = tmp_path / name
    assert main(["--db", str(lab), *command, "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    if command[0] == "status":
        assert json.loads(text)["at"].startswith(AT[:16])
    else:
        # .json: one array, as sql writes it; .jsonl: a row a line
        rows = (
            json.loads(text)
            if name.endswith(".json")
            else list(map(json.loads, text.splitlines()))
        )
        assert {row["id"] for row in rows} >= {"r1", "a1"}
    assert capsys.readouterr().err == ""


def test_out_minus_is_stdout_and_a_compressed_suffix_compresses(
    lab: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import gzip

    from dvlab.cli import main

    monkeypatch.chdir(tmp_path)
    for command in (["status", "--at", AT], ["trace", "w1"], ["timeline", "--id", "c1"]):
        assert main(["--db", str(lab), *command, "--out", "-"]) == 0
        assert capsys.readouterr().out.strip()
    assert list(tmp_path.iterdir()) == []  # no file named "-"

    packed = tmp_path / "answers.json.gz"
    assert main(["--db", str(lab), "status", "--at", AT, "--out", str(packed)]) == 0
    assert json.loads(gzip.decompress(packed.read_bytes()))["at"].startswith(AT[:16])
    one_line = tmp_path / "answers.jsonl"
    assert main(["--db", str(lab), "status", "--at", AT, "--out", str(one_line)]) == 0
    assert len(one_line.read_text(encoding="utf-8").splitlines()) == 1

    assert main(["--db", str(lab), "status", "--at", AT, "--out", str(tmp_path / "a.csv")]) == 2
    assert "status writes text or JSON, not csv" in capsys.readouterr().err


def test_a_workflow_with_steps_at_two_sites_is_of_both(tmp_path: Path) -> None:
    """Reduced after its step at sto1 failed, its other step running at hel1: filtering by
    either site finds it (a site picked from its steps had hidden it from the other)."""
    header = TASKS.splitlines()[0]
    rows = [
        f"rr,wr,provision_vm,,provision_vm,osl1,scheduler,workflow,wr,running,1,"
        f"{DAY}10:00:00Z,{DAY}10:00:00Z,,,,idem-r,backoff(1),cr",
        f"x1,wr,provision_vm,rr,create_port,sto1,nett,port,p-1,failed,1,"
        f"{DAY}10:00:01Z,{DAY}10:00:02Z,{DAY}10:00:30Z,Timeout,no answer,,backoff(2),cr",
        f"x2,wr,provision_vm,rr,attach_volume,hel1,storage,volume,v-1,running,1,"
        f"{DAY}10:00:31Z,{DAY}10:00:32Z,,,,,backoff(2),cr",
    ]
    source = tmp_path / "tasks.csv"
    source.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    lab = tmp_path / "lab.duckdb"
    ingest(lab, [str(source)])
    for site in ("sto1", "hel1"):
        got = status(lab, at=f"{DAY}10:01:00Z", site=site)
        assert {(r["workflow_id"], r["mode"]) for r in got.workflows} == {("wr", "reduced")}, site
        assert {r["site"] for r in got.workflows} == {"hel1,sto1"}
    assert status(lab, at=f"{DAY}10:01:00Z", site="osl1").workflows == []
