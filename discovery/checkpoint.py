"""A LangGraph checkpointer that keeps the node pipelines' checkpoints in the run store.

The checkpoints live in the run's own database (runs/store.py's ``checkpoints`` and
``checkpoint_writes`` tables), written through the store's connection: one writer, one file,
and the SQL stays in ``runs/``. Each write commits before LangGraph goes on, so what a
finished step produced survives a crash of the orchestrator the moment after.

LangGraph's own SQLite saver (langgraph-checkpoint-sqlite) would open a second connection
from a thread of its own and create its tables outside the store's schema; this one is the
few methods LangGraph asks of a saver, on the store. Loaded only with LangGraph.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
    get_checkpoint_metadata,
)
from langgraph.checkpoint.base import Checkpoint as GraphCheckpoint

from runs.models import Checkpoint, CheckpointWrite
from runs.store import RunStore


class StoreCheckpointer(BaseCheckpointSaver[int]):
    """LangGraph checkpoints in a RunStore; used from the event loop's thread only (as the store)."""

    def __init__(self, store: RunStore) -> None:
        super().__init__()
        self.store = store

    # -- reading ------------------------------------------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint ``config`` names (its thread's latest when it names no id)."""
        conf = config["configurable"]
        row = self.store.checkpoint(conf["thread_id"], conf.get("checkpoint_ns", ""), get_checkpoint_id(config))
        return None if row is None else self._tuple(row)

    def list(self, config: RunnableConfig | None, *, filter: dict[str, Any] | None = None,  # noqa: A002
             before: RunnableConfig | None = None, limit: int | None = None) -> Iterator[CheckpointTuple]:
        """Checkpoints newest first, as BaseCheckpointSaver.list describes."""
        conf = (config or {}).get("configurable", {})
        rows = self.store.checkpoints(conf.get("thread_id"), conf.get("checkpoint_ns"),
                                      checkpoint_id=conf.get("checkpoint_id"),
                                      before=get_checkpoint_id(before) if before else None,
                                      limit=None if filter else limit)
        shown = 0
        for row in rows:
            found = self._tuple(row)
            if filter and any(found.metadata.get(k) != v for k, v in filter.items()):
                continue
            if limit is not None and shown >= limit:
                return
            shown += 1
            yield found

    def _tuple(self, row: Checkpoint) -> CheckpointTuple:
        def where(checkpoint_id: str) -> RunnableConfig:
            return {"configurable": {"thread_id": row.thread_id, "checkpoint_ns": row.checkpoint_ns,
                                     "checkpoint_id": checkpoint_id}}

        writes = self.store.checkpoint_writes(row.thread_id, row.checkpoint_ns, row.checkpoint_id)
        return CheckpointTuple(
            config=where(row.checkpoint_id),
            checkpoint=self.serde.loads_typed((row.type, row.checkpoint)),
            metadata=json.loads(row.metadata),
            parent_config=where(row.parent_id) if row.parent_id else None,
            pending_writes=[(w.task_id, w.channel, self.serde.loads_typed((w.type, w.value))) for w in writes],
        )

    # -- writing ------------------------------------------------------------------------------

    def put(self, config: RunnableConfig, checkpoint: GraphCheckpoint, metadata: CheckpointMetadata,
            new_versions: ChannelVersions) -> RunnableConfig:
        """Keep ``checkpoint`` (its channel values with it: the state holds ids and small values)."""
        conf = config["configurable"]
        thread_id, ns = conf["thread_id"], conf.get("checkpoint_ns", "")
        kind, blob = self.serde.dumps_typed(checkpoint)
        meta = json.dumps(get_checkpoint_metadata(config, metadata), default=str).encode()
        self.store.put_checkpoint(Checkpoint(thread_id=thread_id, checkpoint_ns=ns, checkpoint_id=checkpoint["id"],
                                             parent_id=conf.get("checkpoint_id"), type=kind, checkpoint=blob,
                                             metadata=meta))
        return {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": checkpoint["id"]}}

    def put_writes(self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str,
                   task_path: str = "") -> None:
        """Keep what a finished task wrote, so that a resumed step does not run it again."""
        conf = config["configurable"]
        rows = []
        for idx, (channel, value) in enumerate(writes):
            kind, blob = self.serde.dumps_typed(value)
            rows.append(CheckpointWrite(
                thread_id=conf["thread_id"], checkpoint_ns=conf.get("checkpoint_ns", ""),
                checkpoint_id=conf["checkpoint_id"], task_id=task_id, idx=WRITES_IDX_MAP.get(channel, idx),
                channel=channel, type=kind, value=blob, task_path=task_path))
        # Special writes (errors, interrupts) replace an earlier one of the task; others are kept once.
        self.store.put_checkpoint_writes(rows, replace=all(channel in WRITES_IDX_MAP for channel, _ in writes))

    def delete_thread(self, thread_id: str) -> None:
        """Forget a thread's checkpoints (a node once it is recorded)."""
        self.store.delete_checkpoints([thread_id])

    # -- the async API: the store answers at once (SQLite, local file), so no thread is needed --

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self.get_tuple(config)

    async def alist(self, config: RunnableConfig | None, *, filter: dict[str, Any] | None = None,  # noqa: A002
                    before: RunnableConfig | None = None, limit: int | None = None,
                    ) -> AsyncIterator[CheckpointTuple]:
        for found in self.list(config, filter=filter, before=before, limit=limit):
            yield found

    async def aput(self, config: RunnableConfig, checkpoint: GraphCheckpoint, metadata: CheckpointMetadata,
                   new_versions: ChannelVersions) -> RunnableConfig:
        return self.put(config, checkpoint, metadata, new_versions)

    async def aput_writes(self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str,
                          task_path: str = "") -> None:
        self.put_writes(config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        self.delete_thread(thread_id)
