"""Workflows: the chains, groups and chords a run belongs to, as a tree, and revoking them whole.

What Celery tells: every event carries the run's ``root_id`` (the first task of the workflow) and
``parent_id`` (the task that sent it: a chain's previous step, the header task that completed a
chord); the result backend's record adds ``group_id`` once a group's member has finished. From
these the tree is built:

- a run's parent is the recorded run named by its ``parent_id`` (never itself: a retry is sent
  from within the run);
- members of one group under the same parent are gathered in a group node;
- a run whose parent is a member of its own group is that group's chord callback, shown after
  the group (Celery sends it from the header task that finished last).

A workflow is found from any of its runs: by root ids and group ids, a few rounds, at most
:data:`MAX_NODES` runs (the page says when it stops there). A group sent on its own (no chain
around it) has no common root: its members are found by their group id, which the result
backend names only once they finish, so an unfinished member shows alone until then.

Revoking a workflow revokes every unfinished run in it and remembers its root ids for
:data:`REVOKED_ROOTS_DAYS` days: a step sent later (the next link of a chain whose running step
was not terminated) is revoked by the recorder as soon as its event is seen
(:func:`revoke_late_steps`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import redis
from celery import Celery
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..core.runs import TaskRun
from .merge import FINAL

MAX_NODES = 500
SHOWN_DEPTH = 5  # branch levels the page draws; deeper runs are counted
ROUNDS = 4
REVOKED_ROOTS_DAYS = 1
REVOKED_ROOTS_LIMIT = 10000


def revoked_roots_key(prefix: str) -> str:
    """ZSET of workflow root ids an operator revoked, scored by when the memory of it expires."""
    return f"{prefix}history:revoked-roots"


@dataclass
class Node:
    """A run of the workflow, or (``run`` None) a group of runs."""

    run: TaskRun | None = None
    group_id: str | None = None
    children: list[Node] = field(default_factory=list)
    callbacks: list[Node] = field(default_factory=list)  # a group's chord callback

    @property
    def is_group(self) -> bool:
        return self.run is None

    @property
    def line(self) -> list[Node]:
        """This run and the steps that follow it one by one (a chain), up to a branch or a group."""
        steps, node = [self], self
        while len(node.children) == 1 and not node.children[0].is_group:
            node = node.children[0]
            steps.append(node)
        return steps

    def runs_below(self) -> int:
        """How many runs hang below this node (for the page's depth limit)."""
        count, stack = 0, [*self.children, *self.callbacks]
        while stack:
            node = stack.pop()
            count += 0 if node.is_group else 1
            stack.extend([*node.children, *node.callbacks])
        return count


@dataclass
class Workflow:
    nodes: list[Node]  # the top of the tree
    runs: dict[str, TaskRun]
    roots: set[str]
    truncated: bool

    @property
    def unfinished(self) -> list[str]:
        return [task_id for task_id, run in self.runs.items() if run.state not in FINAL]

    def states(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for run in self.runs.values():
            counts[run.state] = counts.get(run.state, 0) + 1
        return dict(sorted(counts.items()))


def _collect(session: Session, run: TaskRun) -> tuple[dict[str, TaskRun], bool]:
    runs = {run.task_id: run}
    roots = {run.root_id or run.task_id}
    groups = {run.group_id} if run.group_id else set()
    seen_roots: set[str] = set()
    seen_groups: set[str] = set()
    for _ in range(ROUNDS):
        new_roots, new_groups = roots - seen_roots, groups - seen_groups
        if not new_roots and not new_groups:
            break
        seen_roots |= new_roots
        seen_groups |= new_groups
        clauses = []
        if new_roots:
            clauses += [TaskRun.root_id.in_(new_roots), TaskRun.task_id.in_(new_roots)]
        if new_groups:
            clauses.append(TaskRun.group_id.in_(new_groups))
        query = select(TaskRun).where(or_(*clauses)).order_by(TaskRun.seq).limit(MAX_NODES + 1)
        for found in session.scalars(query):
            runs.setdefault(found.task_id, found)
            roots.add(found.root_id or found.task_id)
            if found.group_id:
                groups.add(found.group_id)
        if len(runs) > MAX_NODES:
            return dict(list(runs.items())[:MAX_NODES]), True
    return runs, False


def workflow_of(session: Session, run: TaskRun, *, alone: bool = False) -> Workflow | None:
    """The workflow ``run`` belongs to; None when it is a run on its own (unless ``alone``: then
    a workflow of that one run, which may still send its next steps)."""
    if alone:
        found = workflow_of(session, run)
        return found or Workflow([Node(run=run)], {run.task_id: run}, {run.root_id or run.task_id}, False)
    if not (run.parent_id or run.group_id or (run.root_id and run.root_id != run.task_id)):
        steps = select(TaskRun.task_id).where(TaskRun.root_id == run.task_id, TaskRun.task_id != run.task_id)
        has_steps = session.scalar(steps.limit(1))
        if has_steps is None:
            return None
    runs, truncated = _collect(session, run)
    if len(runs) < 2:
        return None
    roots = {r.root_id or r.task_id for r in runs.values()}
    return Workflow(build_tree(runs.values()), runs, roots, truncated)


def _parent(run: TaskRun, runs: dict[str, TaskRun]) -> str | None:
    parent = run.parent_id
    return parent if parent and parent != run.task_id and parent in runs else None


def build_tree(found: Iterable[TaskRun]) -> list[Node]:
    """The tree of these runs (see the module docstring), each level in the order runs were seen."""
    runs = {run.task_id: run for run in sorted(found, key=lambda r: r.seq or 0)}
    below: dict[str | None, list[Node]] = {}
    task_nodes: dict[str, Node] = {}
    group_nodes: dict[tuple[str | None, str], Node] = {}
    groups_by_id: dict[str, Node] = {}
    callbacks: list[tuple[str, Node]] = []
    for task_id, run in runs.items():
        node = task_nodes[task_id] = Node(run=run)
        parent = _parent(run, runs)
        if run.group_id and parent and runs[parent].group_id == run.group_id:
            callbacks.append((run.group_id, node))
            continue
        if run.group_id:
            key = (parent, run.group_id)
            group = group_nodes.get(key)
            if group is None:
                group = group_nodes[key] = Node(group_id=run.group_id)
                groups_by_id.setdefault(run.group_id, group)
                below.setdefault(parent, []).append(group)
            group.children.append(node)
        else:
            below.setdefault(parent, []).append(node)
    for group_id, node in callbacks:
        groups_by_id[group_id].callbacks.append(node)
    for task_id, node in task_nodes.items():
        node.children = below.get(task_id, [])
    return below.get(None, [])


def remember_revoked(client: redis.Redis, prefix: str, roots: Iterable[str]) -> None:
    """Note revoked workflow roots, so that steps sent later are revoked too."""
    now = time.time()
    key = revoked_roots_key(prefix)
    pipe = client.pipeline(transaction=True)
    pipe.zremrangebyscore(key, "-inf", now)
    pipe.zadd(key, {root: now + REVOKED_ROOTS_DAYS * 86400 for root in roots})
    pipe.zremrangebyrank(key, 0, -REVOKED_ROOTS_LIMIT - 1)  # the oldest beyond the limit
    pipe.execute()


def revoke_late_steps(client: redis.Redis, prefix: str, celery_app: Celery, updates: Iterable) -> list[str]:
    """Revoke the newly sent or received runs (``merge.RunUpdate``) of revoked workflows.

    One Redis read for the batch; returns the ids revoked.
    """
    candidates = {
        u.task_id: u.root_id
        for u in updates
        if u.kind in ("sent", "received") and u.root_id and u.root_id != u.task_id
    }
    if not candidates:
        return []
    roots = sorted(set(candidates.values()))
    scores = client.zmscore(revoked_roots_key(prefix), roots)
    now = time.time()
    revoked_roots = {root for root, score in zip(roots, scores, strict=True) if score and score > now}
    late = [task_id for task_id, root in candidates.items() if root in revoked_roots]
    if late:
        celery_app.control.revoke(late)
    return late
