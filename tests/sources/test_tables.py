"""Table detection, column mapping and state words: ``kind_of``, ``parse_map``,
``resolve`` and ``state_case``, on names written by hand (no files, no lab)."""

from __future__ import annotations

import duckdb
import pytest

from dvlab.errors import BadInputError
from dvlab.sources import tables
from dvlab.sources.tables import kind_of, parse_map, resolve


@pytest.mark.parametrize(
    ("columns", "kind"),
    [
        # a JetStream export line, and a bare CloudEvents line
        (("stream", "seq", "subject", "time", "data"), "events"),
        (("specversion", "id", "type", "source", "time", "data"), "events"),
        # transitions: a target state and a task id
        (("task_id", "seq", "from_state", "to_state", "at"), "transitions"),
        (("taskId", "toState", "changed_at"), "transitions"),
        (("task_id", "new_state", "time"), "transitions"),
        # task history under the names sources use
        (("task_id", "state", "created_at"), "tasks"),
        (("taskId", "status", "createdAt"), "tasks"),
        (("ID", "Status", "CreatedAt"), "tasks"),
        (("id", "phase"), "tasks"),
        # a log record carrying a task id and a status is still a log
        (("time", "level", "msg", "task_id", "status"), None),
        (("timestamp", "message", "task_id", "state"), None),
        # neither an id nor a state
        (("name", "cpu_milli", "pod_phase"), None),
        # a task id with a task time is task history even without its state (the state is
        # then reported missing rather than the file taken for a log)
        (("task_id", "created_at"), "tasks"),
        (("task_id", "ts", "level"), None),
        # a log line without a message but with a level stays a log
        (("ts", "level", "task_id", "status"), None),
        ((), None),
    ],
)
def test_kind_of_column_sets(columns: tuple[str, ...], kind: str | None) -> None:
    assert kind_of(columns) == kind


def test_kind_of_counts_mapped_columns_as_present() -> None:
    # Alibaba's pod list: the id is in `name`, which no variant covers
    assert kind_of(("name", "pod_phase", "creation_time")) is None
    assert kind_of(("name", "pod_phase", "creation_time"), {"task_id": "name"}) == "tasks"
    # Docker's GET /tasks: `Status` is an object, its state named by a dotted path
    assert kind_of(("ID", "Spec"), {"state": "Status.State"}) == "tasks"
    assert kind_of(("task_id", "new", "at"), {"to_state": "new"}) == "transitions"


def test_parse_map_pairs() -> None:
    assert parse_map(None) == {}
    assert parse_map([]) == {}
    assert parse_map(["task_id=ID", " state = Status.State ", "to_state=new"]) == {
        "task_id": "ID",
        "state": "Status.State",
        "to_state": "new",
    }
    # the last of two pairs for one column wins
    assert parse_map(["state=a", "state=b"]) == {"state": "b"}


@pytest.mark.parametrize("pair", ["state", "state=", "=Status", " = ", ""])
def test_parse_map_refuses_what_is_not_column_equals_name(pair: str) -> None:
    with pytest.raises(BadInputError) as caught:
        parse_map([pair])
    assert f"--map {pair!r} is not COLUMN=NAME" in str(caught.value)


def test_parse_map_refuses_an_unknown_column_and_lists_the_known_ones() -> None:
    with pytest.raises(BadInputError) as caught:
        parse_map(["task_id=ID", "nocolumn=x"])
    message = str(caught.value)
    assert "'nocolumn' is not a column of tasks or task_transitions" in message
    known = message.split("known: ", 1)[1].split(", ")
    assert {"task_id", "state", "to_state", "ts", "created", "error_message"} <= set(known)
    assert "nocolumn" not in known


def test_resolve_exact_name_before_a_case_variant() -> None:
    assert resolve("tasks", ("State", "state", "task_id"), {}) == {
        "state": "state",
        "task_id": "task_id",
    }


def test_resolve_ignores_case_when_no_exact_name() -> None:
    assert resolve("tasks", ("TASKID", "STATUS", "CreatedAt"), {}) == {
        "task_id": "TASKID",
        "state": "STATUS",
        "created": "CreatedAt",
    }


def test_resolve_takes_the_first_variant_present() -> None:
    # `state` comes before `status` among the variants, `task_id` before `id`
    assert resolve("tasks", ("status", "id", "state", "task_id"), {}) == {
        "task_id": "task_id",
        "state": "state",
    }


def test_resolve_mapping_overrides_and_takes_its_column_from_the_variants() -> None:
    columns = ("name", "state", "message", "phase2")
    assert resolve("tasks", columns, {"state": "phase2", "task_id": "name"}) == {
        "state": "phase2",
        "task_id": "name",
        # `state` is not used twice: it was not mapped, and no other column's variant names it
        "error_message": "message",
    }
    # a column a mapping took is not given to a second lab column
    assert resolve("tasks", ("id", "message"), {"state": "message"}) == {
        "state": "message",
        "task_id": "id",
    }


def test_resolve_keeps_dotted_paths_and_ignores_columns_of_the_other_kind() -> None:
    mapping = {"state": "Status.State", "to_state": "x", "error_message": "Status.Err"}
    assert resolve("tasks", ("ID", "Status", "CreatedAt"), mapping) == {
        "state": "Status.State",
        "error_message": "Status.Err",
        "task_id": "ID",
        "created": "CreatedAt",
    }


def test_resolve_transitions_variants() -> None:
    assert resolve("transitions", ("task", "status", "timestamp", "version", "cause"), {}) == {
        "task_id": "task",
        "to_state": "status",
        "ts": "timestamp",
        "seq": "version",
        "reason": "cause",
    }


@pytest.mark.parametrize(
    ("word", "state"),
    [
        # the names themselves, as most sources write them
        ("pending", "pending"),
        ("running", "running"),
        ("retrying", "retrying"),
        ("succeeded", "succeeded"),
        ("failed", "failed"),
        ("cancelled", "cancelled"),
        # other words, cases and blanks around
        ("Succeeded", "succeeded"),
        (" failed ", "failed"),
        # tabs and line ends around, as levels are read (they had been rejects)
        ("\tfailed\t", "failed"),
        ("running\r\n", "running"),
        ("in_progress", "running"),
        ("COMPLETE", "succeeded"),
        ("canceled", "cancelled"),
        ("backoff", "retrying"),
        ("queued", "pending"),
        ("half-done", None),
        (None, None),
    ],
)
def test_state_words_give_the_six_states(word: str | None, state: str | None) -> None:
    con = duckdb.connect()
    got = con.execute(f"SELECT {tables.state_case('w')} FROM (SELECT ?::VARCHAR AS w)", [word])
    assert got.fetchall()[0][0] == state
