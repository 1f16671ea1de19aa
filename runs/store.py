"""The run store: one SQLite database (WAL) holding every run, node, event and command.

It is the single source of truth. The orchestrator is its only writer of nodes; the TUI and
reports open their own connection and read, which WAL lets them do while a run writes.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import sqlite_utils

from runs.models import (
    Attempt,
    Checkpoint,
    CheckpointWrite,
    Command,
    Evaluation,
    Event,
    Idea,
    LLMCallRecord,
    LLMUsage,
    Node,
    NodeLine,
    NodeStatus,
    Paper,
    ReviewRecord,
    Run,
    RunConfig,
    RunPaper,
    ValueRecord,
    WriteupReviewRecord,
)

DB_NAME = "discover.db"

_NODE_JSON = ("params", "metrics")
_DERIVED = ("updated_at", "visits", "q")  # node columns that are bookkeeping, not Node fields
_RUN_DERIVED = ("last_node_id",)  # run columns that are bookkeeping, not Run fields
_RUN_JSON = ("idea", "config", "resources")


# Every table: its columns, primary key and indexes. Columns are only ever added, so that a
# newer discover opens an older store (missing columns are added on open).
SCHEMA: dict[str, dict[str, Any]] = {
    "runs": {
        "columns": {
            "id": str, "idea": str, "config": str, "status": str, "created_at": float, "finished_at": float,
            "best_node_id": int, "parent_run_id": str, "parent_node_id": int, "agent": str, "workspace": str,
            "pid": int, "heartbeat": float, "elapsed": float, "cost": float, "resources": str,
            # The highest node id ever handed out: a dropped node's id is never given again.
            "last_node_id": int,
            # A fork continues from this node (expanded first), within its subtree when focus_within.
            "focus_node_id": int, "focus_within": int,
            "isolation": str,
        },
        "pk": "id",
        "not_null": {"idea", "config", "status", "created_at"},
    },
    "nodes": {
        "columns": {
            "run_id": str, "id": int, "parent_id": int, "depth": int, "operator": str, "status": str, "plan": str,
            "code": str, "params": str, "metric": float, "metrics": str, "error": str, "exit_code": int,
            "timed_out": int, "exec_seconds": float, "stdout_tail": str, "stderr_tail": str, "created_at": float,
            "started_at": float, "finished_at": float, "debug_depth": int, "value": float, "pruned": int,
            "attempts": int, "metric_source": str, "updated_at": float, "partner_id": int, "code_key": str,
            # The search's statistics of the node's subtree, for the TUI: finished nodes, best metric.
            "visits": int, "q": float,
        },
        "pk": ("run_id", "id"),
        "indexes": [["run_id", "status"], ["run_id", "updated_at"]],
    },
    "attempts": {
        "columns": {
            "run_id": str, "node_id": int, "attempt": int, "status": str, "error": str, "stdout_tail": str,
            "stderr_tail": str, "exec_seconds": float, "started_at": float, "finished_at": float,
        },
        "pk": ("run_id", "node_id", "attempt"),
    },
    "evaluations": {
        "columns": {
            "run_id": str, "node_id": int, "kind": str, "seed": int, "status": str, "metric": float,
            "metrics": str, "error": str, "exec_seconds": float, "created_at": float,
        },
        "pk": ("run_id", "node_id", "kind", "seed"),
    },
    "llm_calls": {
        "columns": {
            "id": int, "run_id": str, "node_id": int, "role": str, "model": str, "attempt": int, "tokens_in": int,
            "tokens_out": int, "cost": float, "latency": float, "error": str, "request_id": str,
            "prompt_hash": str, "started_at": float,
        },
        "pk": "id",
        "indexes": [["run_id", "node_id"]],
    },
    "reviews": {
        "columns": {
            "id": int, "run_id": str, "node_id": int, "reviewer": str, "model": str, "score": float,
            "verdict": str, "issues": str, "summary": str, "plots": str, "created_at": float,
        },
        "pk": "id",
        "indexes": [["run_id", "node_id"]],
    },
    "value_estimates": {
        "columns": {
            "id": int, "run_id": str, "node_id": int, "stage": str, "value": float, "explanation": str,
            "model": str, "created_at": float,
        },
        "pk": "id",
        "indexes": [["run_id", "node_id"]],
    },
    "writeup_reviews": {
        "columns": {"id": int, "run_id": str, "kind": str, "created_at": float, "payload": str},
        "pk": "id",
        "indexes": [["run_id", "id"]],
    },
    "events": {
        "columns": {"id": int, "run_id": str, "ts": float, "kind": str, "node_id": int, "message": str},
        "pk": "id",
        "indexes": [["run_id", "id"]],
    },
    "commands": {
        "columns": {"id": int, "run_id": str, "kind": str, "node_id": int, "created_at": float, "done_at": float},
        "pk": "id",
        "indexes": [["run_id", "done_at"]],
    },
    # The literature cache (agents.literature): papers by id, and which papers a query returned.
    "papers": {
        "columns": {
            "id": str, "source": str, "source_id": str, "title": str, "authors": str, "year": int, "venue": str,
            "abstract": str, "doi": str, "arxiv_id": str, "url": str, "citations": int, "fetched_at": float,
        },
        "pk": "id",
    },
    "literature_queries": {
        "columns": {"backend": str, "query": str, "lim": int, "paper_ids": str, "fetched_at": float},
        "pk": ("backend", "query", "lim"),
    },
    "run_papers": {
        "columns": {"run_id": str, "paper_id": str, "purpose": str, "note": str, "created_at": float},
        "pk": ("run_id", "paper_id", "purpose"),
    },
    # Each in-flight node's pipeline (discovery/node_graph.py), after each finished step: LangGraph's
    # checkpoints and the writes of a step's tasks, by thread (one per node). Opaque bytes here;
    # a node's rows go once the node is recorded.
    "checkpoints": {
        "columns": {"thread_id": str, "checkpoint_ns": str, "checkpoint_id": str, "parent_id": str, "type": str,
                    "checkpoint": bytes, "metadata": bytes},
        "pk": ("thread_id", "checkpoint_ns", "checkpoint_id"),
    },
    "checkpoint_writes": {
        "columns": {"thread_id": str, "checkpoint_ns": str, "checkpoint_id": str, "task_id": str, "idx": int,
                    "channel": str, "type": str, "value": bytes, "task_path": str},
        "pk": ("thread_id", "checkpoint_ns", "checkpoint_id", "task_id", "idx"),
    },
    # What discover ideate's novelty check said of each paper, by the title of the idea it checked.
    "idea_papers": {
        "columns": {"idea_title": str, "paper_id": str, "note": str, "created_at": float},
        "pk": ("idea_title", "paper_id"),
    },
}


class StoreError(Exception):
    """The store cannot be opened or a reference does not name one run."""


class RunStore:
    """Typed access to the run database under ``root`` (usually ``./runs``)."""

    def __init__(self, root: str | Path, *, readonly: bool = False) -> None:
        self.root = Path(root)
        self.db_path = self.root / DB_NAME
        if readonly:
            if not self.db_path.exists():
                raise StoreError(f"{self.db_path}: no run database here")
        else:
            try:
                self.root.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"{self.root}: cannot create the runs folder ({exc.strerror})") from exc
            if not os.access(self.root, os.W_OK):
                raise StoreError(f"{self.root}: the runs folder is not writable")
        try:
            conn = sqlite3.connect(self.db_path, timeout=30, isolation_level=None if readonly else "")
            conn.execute("PRAGMA busy_timeout = 30000")
        except sqlite3.Error as exc:
            raise StoreError(f"{self.db_path}: cannot open the run database ({exc})") from exc
        try:
            # Before anything is written: a damaged or foreign file is refused, never "upgraded".
            _check_ours(conn, self.db_path)
            if not readonly:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            conn.close()
            raise
        self._db = sqlite_utils.Database(conn)
        if not readonly:
            self._ensure_schema()
        # A writable open has every table and column of SCHEMA; a read-only one of an older
        # store may lack some, and reads of what is missing answer "nothing".
        self._tables = set(self._db.table_names())
        self._node_columns = tuple(self._db["nodes"].columns_dict) if "nodes" in self._tables else ()

    def close(self) -> None:
        self._db.conn.close()

    def _has(self, table: str) -> bool:
        return table in self._tables

    # -- schema -------------------------------------------------------------------------

    def _ensure_schema(self) -> None:
        """Create missing tables and add columns that a store from an older version lacks.

        Under a write lock, and only when something is missing: two processes opening a new
        store at once (two runs started together) both saw no tables, and the second to create
        one crashed; a complete store opens without taking the lock."""
        if not self._schema_gaps():
            return
        conn = self._db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Asked again under the lock: another process may have filled the gaps meanwhile.
            for name, missing in self._schema_gaps().items():
                spec, table = SCHEMA[name], self._db[name]
                if missing is None:
                    table.create(spec["columns"], pk=spec["pk"], not_null=spec.get("not_null"))
                    for index in spec.get("indexes", []):
                        table.create_index(index)
                    continue
                for column in missing:
                    table.add_column(column, spec["columns"][column])
            conn.commit()
        except BaseException:
            conn.rollback()
            raise

    def _schema_gaps(self) -> dict[str, list[str] | None]:
        """What SCHEMA has that the database lacks: a whole table (None) or some of its columns."""
        tables = set(self._db.table_names())
        gaps: dict[str, list[str] | None] = {}
        for name, spec in SCHEMA.items():
            if name not in tables:
                gaps[name] = None
                continue
            have = self._db[name].columns_dict
            missing = [column for column in spec["columns"] if column not in have]
            if missing:
                gaps[name] = missing
        return gaps

    # -- folders ------------------------------------------------------------------------

    def run_dir(self, run_id: str) -> Path:
        return self.root / run_id

    def node_dir(self, run_id: str, node_id: int) -> Path:
        return self.root / run_id / "nodes" / f"{node_id:05d}"

    # -- runs ---------------------------------------------------------------------------

    def create_run(self, run: Run) -> Run:
        """Insert a new run and return it as stored, under the id it asked for or, when another
        process took that id meanwhile (two runs of one idea started in the same second), the
        first free ``ID-N``. Use the returned run's id from here on."""
        wanted = run.id
        for _ in range(1000):
            try:
                with self._db.conn:
                    self._db["runs"].insert(_run_row(run))
                return run
            except sqlite3.IntegrityError:
                if not self._db.execute("select 1 from runs where id = ?", [run.id]).fetchone():
                    raise  # not the id: a real constraint failure
                run = run.model_copy(update={"id": self._free_id(wanted)})
        raise StoreError(f"no free run id like {wanted}")

    def new_run_id(self, title: str) -> str:
        """An unused id ``YYYYMMDD-HHMMSS-slug``: sorts by time and says what the run is about.
        Another process may take it before this one inserts its run: ``create_run`` then picks
        the next free one."""
        words = re.findall(r"[a-z0-9]+", title.lower())
        return self._free_id(f"{time.strftime('%Y%m%d-%H%M%S')}-{'-'.join(words[:4])[:40] or 'run'}")

    def _free_id(self, base: str) -> str:
        """``base`` when no run has it, else the first ``base-N`` (N = 2, 3...) none has."""
        taken = {r["id"] for r in self._db.query("select id from runs where id like ?", [base + "%"])}
        run_id, n = base, 2
        while run_id in taken:
            run_id, n = f"{base}-{n}", n + 1
        return run_id

    def delete_run(self, run_id: str) -> None:
        """Remove a run that should never have been stored (its model could not be used): its rows
        in every table, its checkpoints and its folder."""
        import shutil

        with self._db.conn:
            for table, spec in SCHEMA.items():
                if "run_id" in spec["columns"]:
                    self._db.execute(f"delete from {table} where run_id = ?", [run_id])
            self._db.execute("delete from runs where id = ?", [run_id])
        self.delete_checkpoints(self.checkpoint_threads(f"{run_id}:"))
        shutil.rmtree(self.run_dir(run_id), ignore_errors=True)

    def update_run(self, run_id: str, **fields: Any) -> None:
        """Set some columns of a run (``idea`` and ``config`` as models or dicts)."""
        row = {}
        for key, value in fields.items():
            if key in _RUN_JSON:
                value = value.model_dump_json() if hasattr(value, "model_dump_json") else json.dumps(value)
            row[key] = value
        with self._db.conn:
            self._db["runs"].update(run_id, row)

    def get_run(self, run_id: str) -> Run:
        try:
            row = self._db["runs"].get(run_id)
        except sqlite_utils.db.NotFoundError:
            raise StoreError(f"run {run_id!r} not found in {self.db_path}") from None
        return _run_from_row(row)

    def list_runs(self) -> list[Run]:
        """Every run, oldest first."""
        if not self._has("runs"):
            return []
        return [_run_from_row(r) for r in self._db["runs"].rows_where(order_by="created_at")]

    def resolve_run(self, ref: str | None) -> str:
        """Turn ``None``/``latest``, a full id or any part of one id into a run id."""
        runs = [r["id"] for r in self._db.query("select id from runs order by created_at")] if self._has("runs") else []
        if not runs:
            raise StoreError(f"{self.db_path}: no runs yet")
        if ref in (None, "", "latest"):
            return runs[-1]
        if ref in runs:
            return ref
        matches = [r for r in runs if ref in r]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise StoreError(f"run {ref!r}: no such run (see `discover list`)")
        raise StoreError(f"run {ref!r}: ambiguous, matches {', '.join(matches[:5])}")

    # -- nodes --------------------------------------------------------------------------

    def _high_water(self, run_id: str) -> int:
        """The highest node id the run has used: its nodes, its recorded mark, and the ids its
        model calls were tagged with (which covers stores from before the mark was kept)."""
        return int(self._db.execute(
            "select max(coalesce((select max(id) from nodes where run_id = :run), 0), "
            "coalesce((select last_node_id from runs where id = :run), 0), "
            "coalesce((select max(node_id) from llm_calls where run_id = :run), 0))", {"run": run_id}).fetchone()[0])

    def create_node(self, node: Node) -> Node:
        """Insert a new node under an id never used before in its run, and return it.

        Ids only grow: a node that was created and then dropped keeps its id to itself, so
        its model calls and events can never be mistaken for those of a later node. The id
        and the row are committed together, so a crash leaves no id used by nothing.
        """
        with self._db.conn:
            node = node.model_copy(update={"id": self._high_water(node.run_id) + 1})
            self._db.execute("update runs set last_node_id = ? where id = ?", [node.id, node.run_id])
            self._db["nodes"].upsert(_node_row(node), pk=("run_id", "id"))
        return node

    def delete_node(self, run_id: str, node_id: int) -> None:
        """Remove a node that never ran (the agent had nothing for it); its id stays used."""
        with self._db.conn:
            self._db.execute("update runs set last_node_id = max(coalesce(last_node_id, 0), ?) where id = ?",
                            [node_id, run_id])
            self._db.execute("delete from nodes where run_id = ? and id = ?", [run_id, node_id])

    def save_node(self, node: Node) -> None:
        """Insert or replace a node, committed before this returns."""
        with self._db.conn:
            self._db["nodes"].upsert(_node_row(node), pk=("run_id", "id"))

    def set_subtree_stats(self, run_id: str, stats: Iterable[tuple[int, int, float | None]]) -> None:
        """Write (node id, visits, best metric in its subtree) for nodes whose subtree changed."""
        now = time.time()
        with self._db.conn:
            self._db.conn.executemany(
                "update nodes set visits = ?, q = ?, updated_at = ? where run_id = ? and id = ?",
                [(visits, q, now, run_id, node_id) for node_id, visits, q in stats])

    def save_nodes(self, nodes: Iterable[Node]) -> None:
        """Insert or replace many nodes in one transaction."""
        with self._db.conn:
            self._db["nodes"].upsert_all((_node_row(n) for n in nodes), pk=("run_id", "id"), batch_size=500)

    def get_node(self, run_id: str, node_id: int) -> Node:
        try:
            row = self._db["nodes"].get((run_id, node_id))
        except sqlite_utils.db.NotFoundError:
            raise StoreError(f"run {run_id}: no node {node_id}") from None
        return _node_from_row(row)

    def nodes(self, run_id: str, *, with_code: bool = True, statuses: Iterable[NodeStatus] | None = None) -> list[Node]:
        """Nodes of a run in id order (only those in ``statuses`` when given);
        ``with_code=False`` skips the bulky columns."""
        return list(self.iter_nodes(run_id, with_code=with_code, statuses=statuses))

    def iter_nodes(self, run_id: str, *, with_code: bool = True,
                   statuses: Iterable[NodeStatus] | None = None) -> Iterator[Node]:
        """``nodes`` one at a time, read from the database as they are used (for the biggest runs)."""
        cols = "*" if with_code else ", ".join(
            c for c in self._node_columns if c not in ("code", "stdout_tail", "stderr_tail"))
        where, params = "run_id = ?", [run_id]
        if statuses is not None:
            wanted = [s.value for s in statuses]
            where += f" and status in ({', '.join('?' * len(wanted))})"
            params += wanted
        cursor = self._db.execute(f"select {cols} from nodes where {where} order by id", params)
        names = [d[0] for d in cursor.description]
        for r in cursor:
            yield _node_from_row(dict(zip(names, r)))

    def node_code(self, run_id: str, node_id: int) -> str | None:
        """A node's code alone; None when it has none or is gone."""
        row = self._db.execute("select code from nodes where run_id = ? and id = ?", [run_id, node_id]).fetchone()
        return row[0] if row else None

    def node_lines(self, run_id: str, *, changed_since: float | None = None, pruned: bool | None = None,
                   ) -> list[NodeLine]:
        """The light rows the TUI draws, in id order: all of them, those that changed after
        ``changed_since`` (a time; stores from before ``updated_at`` look at the node's own
        times), or only the pruned (``pruned=True``) ones."""
        cols = [c for c in NodeLine.model_fields if c in self._node_columns]
        where, params = "run_id = ?", [run_id]
        if changed_since is not None:
            if "updated_at" in self._node_columns:
                where += " and updated_at > ?"
                params.append(changed_since)
            else:
                where += " and (created_at > ? or started_at > ? or finished_at > ?)"
                params += [changed_since] * 3
        if pruned is not None:
            where += " and pruned = ?"
            params.append(int(pruned))
        cursor = self._db.execute(f"select {', '.join(cols)} from nodes where {where} order by id", params)
        return [NodeLine.model_validate({k: v for k, v in zip(cols, r) if v is not None}) for r in cursor]

    def node_ids(self, run_id: str) -> set[int]:
        """The ids of the run's nodes."""
        return {i for (i,) in self._db.execute("select id from nodes where run_id = ?", [run_id])}

    def count_nodes(self, run_id: str) -> dict[str, int]:
        """Node counts by status."""
        rows = self._db.execute("select status, count(*) from nodes where run_id = ? group by status", [run_id])
        return {status: n for status, n in rows}

    def count_pruned(self, run_id: str) -> int:
        """How many of the run's nodes are pruned."""
        return self._db.execute("select count(*) from nodes where run_id = ? and pruned = 1", [run_id]).fetchone()[0]

    def data_version(self) -> int:
        """A number that changes whenever another connection commits to the database (SQLite's
        ``data_version``): a reader polls it to skip the work when nothing was written."""
        return self._db.execute("pragma data_version").fetchone()[0]

    def save_attempts(self, attempts: list[Attempt]) -> None:
        """Record earlier, incomplete executions of nodes (idempotent per node and attempt)."""
        with self._db.conn:
            self._db["attempts"].upsert_all((a.model_dump() for a in attempts), pk=("run_id", "node_id", "attempt"))

    def attempts(self, run_id: str, node_id: int | None = None) -> list[Attempt]:
        """Earlier executions of the run's nodes (or of one node) that did not complete (crashes, interrupts)."""
        where, params = _where_node(run_id, node_id)
        return [Attempt.model_validate(r) for r in self._db["attempts"].rows_where(
            where, params, order_by="node_id, attempt")]

    def delete_attempt(self, run_id: str, node_id: int, attempt: int) -> None:
        """Forget an attempt recorded as interrupted that had in fact finished (its pipeline's checkpoint says so)."""
        with self._db.conn:
            self._db.execute("delete from attempts where run_id = ? and node_id = ? and attempt = ?",
                             [run_id, node_id, attempt])

    def save_evaluation(self, evaluation: Evaluation) -> None:
        row = evaluation.model_dump(mode="json")
        row["metrics"] = json.dumps(row["metrics"])
        with self._db.conn:
            self._db["evaluations"].upsert(row, pk=("run_id", "node_id", "kind", "seed"))

    def evaluations(self, run_id: str) -> list[Evaluation]:
        """Seed re-runs and held-out evaluations of a run's nodes, by node, kind and seed."""
        if not self._has("evaluations"):
            return []
        rows = self._db["evaluations"].rows_where("run_id = ?", [run_id], order_by="node_id, kind, seed")
        return [Evaluation.model_validate({**r, "metrics": json.loads(r["metrics"] or "{}")}) for r in rows]

    # -- LLM calls, reviews, value estimates ------------------------------------------------

    def add_llm_call(self, run_id: str, call: dict[str, Any]) -> float:
        """Store one call record, add its cost to the run, and return the run's total cost."""
        row = {k: call.get(k) for k in SCHEMA["llm_calls"]["columns"] if k not in ("id", "run_id")}
        with self._db.conn:
            self._db["llm_calls"].insert({**row, "run_id": run_id})
            self._db.execute("update runs set cost = coalesce(cost, 0) + ? where id = ?",
                             [call.get("cost") or 0.0, run_id])
        return self._db.execute("select cost from runs where id = ?", [run_id]).fetchone()[0] or 0.0

    def llm_calls(self, run_id: str, node_id: int | None = None) -> list[LLMCallRecord]:
        """The run's model calls (or one node's), oldest first."""
        if not self._has("llm_calls"):
            return []
        where, params = _where_node(run_id, node_id)
        return [LLMCallRecord.model_validate(r) for r in self._db["llm_calls"].rows_where(where, params, order_by="id")]

    def llm_usage(self, run_id: str, node_id: int | None = None, *, exclude_roles: Iterable[str] = ()) -> LLMUsage:
        """Calls, tokens and cost of the run's model calls (or one node's), leaving out ``exclude_roles``."""
        if not self._has("llm_calls"):
            return LLMUsage()
        where, params = _where_node(run_id, node_id)
        skip = list(exclude_roles)
        if skip:
            where += f" and coalesce(role, '') not in ({', '.join('?' * len(skip))})"
            params += skip
        row = self._db.execute("select count(*), coalesce(sum(tokens_in), 0), coalesce(sum(tokens_out), 0), "
                               f"coalesce(sum(cost), 0) from llm_calls where {where}", params).fetchone()
        return LLMUsage(calls=row[0], tokens_in=row[1], tokens_out=row[2], cost=row[3])

    def add_review(self, run_id: str, node_id: int, review: dict[str, Any]) -> None:
        """Store one node review (a reviewers.models.Review as a dict)."""
        row = {k: review.get(k) for k in ("reviewer", "model", "score", "verdict", "summary")}
        row.update(run_id=run_id, node_id=node_id, created_at=time.time(),
                   issues=json.dumps(review.get("issues", [])), plots=json.dumps(review.get("plots", [])))
        with self._db.conn:
            self._db["reviews"].insert(row)

    def reviews(self, run_id: str, node_id: int | None = None) -> list[ReviewRecord]:
        """Node reviews (of the run, or of one node), oldest first."""
        if not self._has("reviews"):
            return []
        where, params = _where_node(run_id, node_id)
        rows = self._db["reviews"].rows_where(where, params, order_by="id")
        return [ReviewRecord.model_validate({**{k: v for k, v in r.items() if v is not None},
                                             "issues": json.loads(r["issues"] or "[]"),
                                             "plots": json.loads(r["plots"] or "[]")}) for r in rows]

    def add_value(self, run_id: str, node_id: int, stage: str, value: float, explanation: str, model: str) -> None:
        """Store a value agent estimate, so its calibration against outcomes can be measured."""
        with self._db.conn:
            self._db["value_estimates"].insert({"run_id": run_id, "node_id": node_id, "stage": stage, "value": value,
                                               "explanation": explanation, "model": model, "created_at": time.time()})

    def value_estimates(self, run_id: str, node_id: int | None = None) -> list[ValueRecord]:
        """The value agent's estimates (of the run, or of one node), oldest first."""
        if not self._has("value_estimates"):
            return []
        where, params = _where_node(run_id, node_id)
        return [ValueRecord.model_validate(r) for r in self._db["value_estimates"].rows_where(
            where, params, order_by="id")]

    def save_writeup_review(self, run_id: str, kind: str, payload_json: str) -> None:
        """Keep the review of a run's write-up (kind 'panel' or 'checklist'; payload: WriteupReview JSON)."""
        with self._db.conn:
            self._db["writeup_reviews"].insert({"run_id": run_id, "kind": kind, "created_at": time.time(),
                                               "payload": payload_json})

    def writeup_reviews(self, run_id: str) -> list[WriteupReviewRecord]:
        """Reviews of the run's write-up, oldest first."""
        if not self._has("writeup_reviews"):
            return []
        return [WriteupReviewRecord.model_validate(r) for r in self._db["writeup_reviews"].rows_where(
            "run_id = ?", [run_id], order_by="id")]

    # -- checkpoints of the node pipelines ------------------------------------------------------

    def put_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Keep one checkpoint (committed before this returns)."""
        # Plain SQL: it runs after every step of every node, and sqlite-utils looks the table up each time.
        row = checkpoint.model_dump()
        with self._db.conn:
            self._db.conn.execute(f"insert or replace into checkpoints ({', '.join(row)}) "
                                  f"values ({', '.join('?' * len(row))})", list(row.values()))

    def checkpoint(self, thread_id: str, checkpoint_ns: str, checkpoint_id: str | None = None) -> Checkpoint | None:
        """The thread's checkpoint ``checkpoint_id``, or its latest; None when there is none."""
        found = self.checkpoints(thread_id, checkpoint_ns, checkpoint_id=checkpoint_id, limit=1)
        return found[0] if found else None

    def checkpoints(self, thread_id: str | None, checkpoint_ns: str | None = None, *, checkpoint_id: str | None = None,
                    before: str | None = None, limit: int | None = None) -> list[Checkpoint]:
        """Checkpoints, newest first (ids grow with time): of one thread (all when None), namespace,
        id, or those older than ``before``."""
        if not self._has("checkpoints"):
            return []
        where, params = ["1"], []
        for column, op, value in (("thread_id", "=", thread_id), ("checkpoint_ns", "=", checkpoint_ns),
                                  ("checkpoint_id", "=", checkpoint_id), ("checkpoint_id", "<", before)):
            if value is not None:
                where.append(f"{column} {op} ?")
                params.append(value)
        sql = f"select * from checkpoints where {' and '.join(where)} order by checkpoint_id desc"
        if limit is not None:
            sql += f" limit {int(limit)}"
        cursor = self._db.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return [Checkpoint.model_validate(dict(zip(names, r))) for r in cursor]

    def put_checkpoint_writes(self, writes: list[CheckpointWrite], *, replace: bool) -> None:
        """Keep the writes of a step's task; ``replace`` overwrites those already kept under the same keys."""
        if not writes:
            return
        columns = list(CheckpointWrite.model_fields)
        with self._db.conn:
            self._db.conn.executemany(
                f"insert or {'replace' if replace else 'ignore'} into checkpoint_writes ({', '.join(columns)}) "
                f"values ({', '.join('?' * len(columns))})", [[getattr(w, c) for c in columns] for w in writes])

    def checkpoint_writes(self, thread_id: str, checkpoint_ns: str, checkpoint_id: str) -> list[CheckpointWrite]:
        """The writes kept for one checkpoint, in the order LangGraph applies them."""
        if not self._has("checkpoint_writes"):
            return []
        rows = self._db["checkpoint_writes"].rows_where(
            "thread_id = ? and checkpoint_ns = ? and checkpoint_id = ?", [thread_id, checkpoint_ns, checkpoint_id],
            order_by="task_path, task_id, idx")
        return [CheckpointWrite.model_validate(r) for r in rows]

    def checkpoint_threads(self, prefix: str) -> list[str]:
        """The threads with checkpoints whose id starts with ``prefix``."""
        if not self._has("checkpoints"):
            return []
        rows = self._db.execute("select distinct thread_id from checkpoints where substr(thread_id, 1, ?) = ?",
                                [len(prefix), prefix])
        return [t for (t,) in rows]

    def delete_checkpoints(self, thread_ids: Iterable[str]) -> None:
        """Forget the checkpoints and writes of these threads."""
        ids = [(t,) for t in thread_ids]
        if ids:
            with self._db.conn:
                self._db.conn.executemany("delete from checkpoints where thread_id = ?", ids)
                self._db.conn.executemany("delete from checkpoint_writes where thread_id = ?", ids)

    # -- the literature cache ----------------------------------------------------------------

    def save_papers(self, papers: Iterable[Paper]) -> None:
        """Insert or update papers; a known abstract, venue or id is kept when a newer copy lacks it."""
        papers = list(papers)
        if not papers:
            return
        old = {p.id: p for p in self.papers([p.id for p in papers])}
        rows = []
        for paper in papers:
            known = old.get(paper.id)
            if known is not None:
                paper = paper.model_copy(update={k: getattr(known, k) for k in
                                                 ("abstract", "venue", "doi", "arxiv_id", "year", "url", "citations")
                                                 if getattr(paper, k) in (None, "") and getattr(known, k)})
            row = paper.model_dump()
            row["authors"] = json.dumps(row["authors"])
            rows.append(row)
        with self._db.conn:
            self._db["papers"].upsert_all(rows, pk="id")

    def paper(self, paper_id: str) -> Paper | None:
        """A stored paper, or None."""
        found = self.papers([paper_id])
        return found[0] if found else None

    def papers(self, paper_ids: Iterable[str]) -> list[Paper]:
        """The stored papers among ``paper_ids``, in that order (unknown ids left out)."""
        ids = list(dict.fromkeys(paper_ids))
        if not ids or not self._has("papers"):
            return []
        found: dict[str, Paper] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            rows = self._db.execute(f"select * from papers where id in ({', '.join('?' * len(chunk))})", chunk)
            names = [d[0] for d in rows.description]
            for r in rows:
                paper = _paper_from_row(dict(zip(names, r)))
                found[paper.id] = paper
        return [found[i] for i in ids if i in found]

    def cached_query(self, backend: str, query: str, limit: int, max_age: float | None = None) -> list[Paper] | None:
        """The papers ``backend`` returned for ``query`` (None when never asked, or older than ``max_age`` s)."""
        if not self._has("literature_queries"):
            return None
        row = self._db.execute("select paper_ids, fetched_at from literature_queries where backend = ? and query = ? "
                              "and lim = ?", [backend, query, limit]).fetchone()
        if row is None or (max_age is not None and time.time() - (row[1] or 0) > max_age):
            return None
        return self.papers(json.loads(row[0]))

    def save_query(self, backend: str, query: str, limit: int, paper_ids: list[str]) -> None:
        """Remember which papers ``backend`` returned for ``query`` (the papers themselves: save_papers)."""
        with self._db.conn:
            self._db["literature_queries"].upsert({"backend": backend, "query": query, "lim": limit,
                                                  "paper_ids": json.dumps(paper_ids), "fetched_at": time.time()},
                                                 pk=("backend", "query", "lim"))

    def link_papers(self, run_id: str, paper_ids: Iterable[str], purpose: str, notes: dict[str, str] | None = None,
                    ) -> None:
        """Record that a run used these stored papers (``purpose``: idea, related or cited)."""
        now = time.time()
        rows = [{"run_id": run_id, "paper_id": pid, "purpose": purpose, "note": (notes or {}).get(pid, ""),
                 "created_at": now} for pid in dict.fromkeys(paper_ids)]
        if rows:
            with self._db.conn:
                self._db["run_papers"].upsert_all(rows, pk=("run_id", "paper_id", "purpose"))

    def note_idea_papers(self, idea_title: str, notes: dict[str, str]) -> None:
        """Keep what a novelty check said of each paper it compared the idea titled ``idea_title`` with."""
        now = time.time()
        rows = [{"idea_title": idea_title, "paper_id": pid, "note": note, "created_at": now}
                for pid, note in notes.items()]
        if rows:
            with self._db.conn:
                self._db["idea_papers"].upsert_all(rows, pk=("idea_title", "paper_id"))

    def run_papers(self, run_id: str) -> list[RunPaper]:
        """The papers a run used: those its idea names (``Idea.papers``, with what the novelty check said of
        them), then those linked to it, each once per purpose, in that order."""
        run = self.get_run(run_id)
        notes: dict[str, str] = {}
        if run.idea.papers and self._has("idea_papers"):
            notes = {r["paper_id"]: r["note"] or "" for r in self._db["idea_papers"].rows_where(
                "idea_title = ?", [run.idea.title])}
        out = [RunPaper(run_id=run_id, paper=p, purpose="idea", note=notes.get(p.id, ""), created_at=run.created_at)
               for p in self.papers(run.idea.papers)]
        if not self._has("run_papers"):
            return out
        seen = {("idea", p.paper.id) for p in out}
        rows = list(self._db["run_papers"].rows_where("run_id = ?", [run_id], order_by="rowid"))
        papers = {p.id: p for p in self.papers(r["paper_id"] for r in rows)}
        for r in rows:
            if r["paper_id"] in papers and (r["purpose"], r["paper_id"]) not in seen:
                seen.add((r["purpose"], r["paper_id"]))
                out.append(RunPaper(run_id=run_id, paper=papers[r["paper_id"]], purpose=r["purpose"],
                                    note=r["note"] or "", created_at=r["created_at"] or 0.0))
        return out

    # -- events and commands --------------------------------------------------------------

    def add_event(self, run_id: str, kind: str, message: str = "", node_id: int | None = None) -> None:
        event = Event(run_id=run_id, ts=time.time(), kind=kind, node_id=node_id, message=message)
        with self._db.conn:
            self._db["events"].insert(event.model_dump())

    def events(self, run_id: str, *, after_id: int = 0, limit: int = 1000) -> list[tuple[int, Event]]:
        rows = self._db.execute(
            "select * from events where run_id = ? and id > ? order by id limit ?", [run_id, after_id, limit]
        )
        names = [d[0] for d in rows.description]
        out = []
        for r in rows:
            d = dict(zip(names, r))
            out.append((d.pop("id"), Event.model_validate(d)))
        return out

    def last_event_id(self, run_id: str) -> int:
        """The id of the run's newest event (0 when it has none)."""
        return self._db.execute("select coalesce(max(id), 0) from events where run_id = ?", [run_id]).fetchone()[0]

    def recent_events(self, run_id: str, *, up_to_id: int, limit: int) -> list[tuple[int, Event]]:
        """The run's last ``limit`` events with ids up to ``up_to_id``, oldest first."""
        ids = [i for (i,) in self._db.execute(
            "select id from events where run_id = ? and id <= ? order by id desc limit ?", [run_id, up_to_id, limit])]
        return self.events(run_id, after_id=ids[-1] - 1, limit=len(ids)) if ids else []

    def pauses(self, run_id: str) -> list[tuple[float, float]]:
        """Wall-clock gaps between a run's sessions: (its last event before a resume, the resume)."""
        rows = self._db.execute(
            "select (select max(p.ts) from events p where p.run_id = e.run_id and p.id < e.id), e.ts "
            "from events e where e.run_id = ? and e.kind = 'run_resumed' order by e.id", [run_id])
        return [(a, b) for a, b in rows if a is not None]

    def mark_killed(self, run_id: str, node_ids: Iterable[int], *, elapsed: float, reason: str,
                    wait: float = 0.5) -> None:
        """On a hard exit: the nodes in flight cancelled, the run stopped (a run whose search had
        ended keeps its status: only its report is missing), in one transaction.

        Waits at most ``wait`` seconds for another writer, then raises sqlite3.OperationalError:
        a process that must exit now cannot wait the usual 30 s (a resume repairs the rest).
        """
        now = time.time()
        ids = list(node_ids)
        self._db.execute(f"PRAGMA busy_timeout = {int(wait * 1000)}")
        try:
            with self._db.conn:
                self._db.conn.executemany(
                    "update nodes set status = ?, error = coalesce(error, ?), finished_at = ?, updated_at = ? "
                    "where run_id = ? and id = ? and status in (?, ?)",
                    [(NodeStatus.cancelled.value, reason, now, now, run_id, i, NodeStatus.pending.value,
                      NodeStatus.running.value) for i in ids])
                self._db.execute("update runs set status = 'stopped', elapsed = ?, finished_at = ? "
                                "where id = ? and status = 'running'", [elapsed, now, run_id])
                self._db.execute("update runs set pid = null where id = ?", [run_id])
                self._db["events"].insert(Event(run_id=run_id, ts=now, kind="run_killed", message=reason).model_dump())
        finally:
            self._db.execute("PRAGMA busy_timeout = 30000")

    def add_command(self, run_id: str, kind: str, node_id: int | None = None) -> int:
        cmd = Command(run_id=run_id, kind=kind, node_id=node_id, created_at=time.time())
        with self._db.conn:
            return self._db["commands"].insert(cmd.model_dump(exclude={"id"})).last_pk

    def paused(self, run_id: str) -> bool:
        """Whether the run's last pause or resume command was a pause."""
        if not self._has("commands"):
            return False
        row = self._db.execute("select kind from commands where run_id = ? and kind in ('pause', 'resume') "
                               "order by id desc limit 1", [run_id]).fetchone()
        return bool(row) and row[0] == "pause"

    def pending_commands(self, run_id: str) -> list[Command]:
        rows = self._db["commands"].rows_where("run_id = ? and done_at is null", [run_id], order_by="id")
        return [Command.model_validate(r) for r in rows]

    def mark_command_done(self, command_id: int) -> None:
        with self._db.conn:
            self._db["commands"].update(command_id, {"done_at": time.time()})

    def discard_pending_commands(self, run_id: str) -> list[Command]:
        """Mark every unapplied command of the run done without applying it, and return them.

        A resume calls this: a command left by a session that died before reading it (a stop,
        a pause) was meant for that session, not for the one starting now.
        """
        stale = self.pending_commands(run_id)
        if stale:
            now = time.time()
            with self._db.conn:
                self._db.conn.executemany("update commands set done_at = ? where id = ?",
                                         [(now, c.id) for c in stale])
        return stale


def _where_node(run_id: str, node_id: int | None) -> tuple[str, list[Any]]:
    if node_id is None:
        return "run_id = ?", [run_id]
    return "run_id = ? and node_id = ?", [run_id, node_id]


def _check_ours(conn: sqlite3.Connection, path: Path) -> None:
    """Raise StoreError unless ``path`` is empty or a run database of ours (any version)."""
    try:
        tables = {r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")}
        if not tables:
            return  # a new store
        if not tables & set(SCHEMA):
            raise StoreError(f"{path}: not a discover run database (it has none of its tables)")
        for name, spec in SCHEMA.items():
            if name not in tables:
                continue
            columns = {r[1] for r in conn.execute(f"pragma table_info([{name}])")}
            pk = spec["pk"] if isinstance(spec["pk"], tuple) else (spec["pk"],)
            missing = [c for c in (*pk, *sorted(spec.get("not_null", ()))) if c not in columns]
            if missing:
                raise StoreError(f"{path}: not a discover run database (table {name} has no "
                                 f"{', '.join(missing)} column)")
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: cannot read it as a run database ({exc})") from None


def _run_row(run: Run) -> dict[str, Any]:
    row = run.model_dump(exclude={"idea", "config"})
    row["idea"] = run.idea.model_dump_json()
    row["config"] = run.config.model_dump_json()
    row["resources"] = json.dumps(run.resources) if run.resources is not None else None
    return row


def _run_from_row(row: dict[str, Any]) -> Run:
    data = {k: v for k, v in row.items() if k not in _RUN_DERIVED}
    data["idea"] = Idea.model_validate_json(data["idea"])
    data["config"] = RunConfig.model_validate_json(data["config"])
    if data.get("resources"):
        data["resources"] = json.loads(data["resources"])
    return Run.model_validate({k: v for k, v in data.items() if v is not None})


def _node_row(node: Node) -> dict[str, Any]:
    row = node.model_dump(mode="json")
    for key in _NODE_JSON:
        row[key] = json.dumps(row[key])
    row["timed_out"] = int(node.timed_out)
    row["pruned"] = int(node.pruned)
    row["updated_at"] = time.time()  # lets readers (the TUI) fetch only what changed since their last poll
    return row


def _node_from_row(row: dict[str, Any]) -> Node:
    data = {k: v for k, v in row.items() if v is not None and k not in _DERIVED}
    for key in _NODE_JSON:
        if key in data:
            data[key] = json.loads(data[key])
    data["status"] = NodeStatus(data["status"])
    data["timed_out"] = bool(data.get("timed_out", 0))
    data["pruned"] = bool(data.get("pruned", 0))
    return Node.model_validate(data)


def _paper_from_row(row: dict[str, Any]) -> Paper:
    data = {k: v for k, v in row.items() if v is not None}
    data["authors"] = json.loads(data.get("authors") or "[]")
    return Paper.model_validate(data)
