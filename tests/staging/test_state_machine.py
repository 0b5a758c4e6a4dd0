"""The staging list against a model: random sequences of every operation on a real Redis.

The model is the list of ids head first, each item's data, the version the list must be at and the
ids released so far. After every step Redis must agree with it, and the broker list must hold one
message per released item, under the item's id, with the item's arguments.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections import Counter

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from dashboard.core import messages
from dashboard.core.errors import Unprocessable
from dashboard.staging import service
from dashboard.staging.keys import StagingKeys

SETTINGS = settings(
    max_examples=100,
    stateful_step_count=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
MAX_BYTES = 65536
NEVER_STAGED = "never-staged"
# Moves into one gap before the scores have no integer left between them and the list is renumbered.
GAP_HALVINGS = 32

indexes = st.integers(min_value=0, max_value=1000)
# An item to act on: mostly a staged one, sometimes one that is gone (released, removed, never staged).
targets = st.tuples(st.sampled_from(["staged", "staged", "staged", "gone"]), indexes)
positions = st.sampled_from(service.POSITIONS)
priorities = st.none() | st.integers(min_value=0, max_value=9)
notes = st.text(alphabet="abc xyz-é", max_size=12)


class StagingListMachine(RuleBasedStateMachine):
    """One run: a fresh key prefix and a fresh broker queue of its own."""

    client = None
    celery_app = None
    declare_queue = None

    def __init__(self):
        super().__init__()
        self.prefix = f"td-sm-{uuid.uuid4().hex[:10]}:"
        self.keys = StagingKeys(self.prefix)
        self.queue = self.declare_queue(f"staging-sm-{uuid.uuid4().hex[:10]}")
        self.broker_keys = messages.queue_keys(self.celery_app, self.queue)
        self.order: list[str] = []
        self.items: dict[str, service.StagingItem] = {}
        self.version = 0
        self.seen_version = 0
        self.released: dict[str, list] = {}  # id -> the args its message must carry
        self.gone: list[str] = [NEVER_STAGED]
        self.serial = 0

    def teardown(self):
        keys = [*self.client.scan_iter(match=f"{self.prefix}*"), *self.broker_keys]
        if keys:
            self.client.delete(*keys)

    # ------------------------------------------------------------ helpers

    def item(self, *, item_id: str | None = None, priority: int | None, note: str):
        self.serial += 1
        options = {"queue": self.queue} | ({} if priority is None else {"priority": priority})
        data = {"task": "tasks.add", "args": [self.serial, 1], "options": options, "note": note}
        return service.build_item(
            self.celery_app, data, staged_by="machine", max_bytes=MAX_BYTES, item_id=item_id
        )

    def pick(self, index: int) -> str:
        return self.order[index % len(self.order)]

    def neighbour(self, choice: tuple[str, int]) -> str | None:
        kind, index = choice
        if kind == "none":
            return None
        if kind == "gone" or not self.order:
            return self.gone[index % len(self.gone)]
        return self.pick(index)

    target = neighbour

    def changed(self, new_version: int) -> None:
        self.version += 1
        assert new_version == self.version

    def refused(self, error: type[Exception], call) -> None:
        before = self.version
        with pytest.raises(error):
            call()
        assert service.current_version(self.client, self.prefix) == before

    def place(self, item_id: str, index: int) -> None:
        self.order.remove(item_id)
        self.order.insert(index, item_id)

    def take(self, item_id: str) -> None:
        self.order.remove(item_id)
        del self.items[item_id]
        self.gone.append(item_id)

    # ------------------------------------------------------------ adding

    @initialize(count=st.integers(min_value=0, max_value=6))
    def start_with_some_items(self, count):
        self.add(at="tail", priority=None, note="", count=count)

    @rule(at=st.sampled_from(["tail", "head"]), priority=priorities, note=notes, count=st.integers(1, 3))
    def add(self, at, priority, note, count=1):
        for _ in range(count):
            item = self.item(priority=priority, note=note)
            self.changed(service.stage_item(self.client, self.prefix, item, at=at))
            self.order.insert(len(self.order) if at == "tail" else 0, item.id)
            self.items[item.id] = item

    @precondition(lambda self: self.order)
    @rule(index=indexes)
    def add_an_id_already_staged(self, index):
        item = self.item(item_id=self.pick(index), priority=None, note="twice")
        self.refused(service.DuplicateItem, lambda: service.stage_item(self.client, self.prefix, item))

    # ------------------------------------------------------------ moving

    @rule(
        who=targets,
        before=st.tuples(st.sampled_from(["none", "staged", "staged", "gone"]), indexes),
        after=st.tuples(st.sampled_from(["none", "staged", "gone"]), indexes),
        pass_version=st.booleans(),
    )
    def move_beside_a_neighbour(self, who, before, after, pass_version):
        item_id = self.target(who)
        before_id, after_id = self.neighbour(before), self.neighbour(after)

        def move():
            version = self.version if pass_version else None
            return service.move(
                self.client, self.prefix, item_id, before=before_id, after=after_id, version=version
            )

        if before_id is None and after_id is None:
            return self.refused(Unprocessable, move)
        if item_id not in self.items:
            return self.refused(service.UnknownItem, move)
        usable = [n for n in (before_id, after_id) if n is not None and n != item_id and n in self.items]
        if not usable:
            return self.refused(service.UnknownNeighbour, move)
        self.changed(move())
        anchor = usable[0]
        self.order.remove(item_id)
        at = self.order.index(anchor)
        self.order.insert(at if anchor == before_id else at + 1, item_id)

    @rule(who=targets, position=positions)
    def move_to_a_position(self, who, position):
        item_id = self.target(who)
        if item_id not in self.items:
            return self.refused(
                service.UnknownItem,
                lambda: service.move(self.client, self.prefix, item_id, position=position),
            )
        rank, last = self.order.index(item_id), len(self.order) - 1
        place = {"top": 0, "bottom": last, "up": max(rank - 1, 0), "down": min(rank + 1, last)}[position]
        new_version = service.move(self.client, self.prefix, item_id, position=position)
        if place == rank:  # already there: nothing changes, the version stays
            assert new_version == self.version
            return
        self.changed(new_version)
        self.place(item_id, place)

    @precondition(lambda self: len(self.order) >= 3)
    @rule(index=indexes)
    def crowd_one_gap_until_renumbered(self, index):
        anchor = self.pick(index)
        others = [i for i in self.order if i != anchor][:2]
        for step in range(GAP_HALVINGS):
            moved = others[step % 2]
            self.changed(service.move(self.client, self.prefix, moved, after=anchor))
            self.order.remove(moved)
            self.order.insert(self.order.index(anchor) + 1, moved)

    @precondition(lambda self: self.version > 0)
    @rule(who=targets, position=positions, age=st.integers(min_value=1, max_value=50))
    def move_against_a_stale_version(self, who, position, age):
        item_id = self.target(who)
        stale = max(self.version - age, 0) if age % 5 else self.version + age  # old, or not yet reached
        self.refused(
            service.StaleStagingVersion,
            lambda: service.move(self.client, self.prefix, item_id, position=position, version=stale),
        )

    # ------------------------------------------------------------ editing and removing

    @rule(who=targets, priority=priorities, note=notes)
    def edit(self, who, priority, note):
        item = self.item(item_id=self.target(who), priority=priority, note=note)
        if item.id not in self.items:  # released or removed: not brought back
            return self.refused(service.UnknownItem, lambda: service.edit(self.client, self.prefix, item))
        self.changed(service.edit(self.client, self.prefix, item))
        self.items[item.id] = item

    @rule(who=targets)
    def remove(self, who):
        item_id = self.target(who)
        if item_id not in self.items:
            return self.refused(
                service.UnknownItem, lambda: service.remove(self.client, self.prefix, item_id)
            )
        self.changed(service.remove(self.client, self.prefix, item_id))
        self.take(item_id)

    # ------------------------------------------------------------ releasing

    @rule(who=targets)
    def release(self, who):
        item_id = self.target(who)
        outcome = service.release(self.client, self.celery_app, self.prefix, item_id)
        if item_id not in self.items:
            assert (outcome.released, outcome.reason) == (False, "gone")
            return
        assert outcome.released and outcome.item_id == item_id
        self.changed(outcome.version)
        self.released[item_id] = self.items[item_id].args
        self.take(item_id)

    @rule()
    def release_next(self):
        outcome = service.release_next(self.client, self.celery_app, self.prefix)
        if not self.order:
            assert (outcome.released, outcome.reason) == (False, "empty")
            return
        head = self.order[0]
        assert outcome.released and outcome.item_id == head
        self.changed(outcome.version)
        self.released[head] = self.items[head].args
        self.take(head)

    # ------------------------------------------------------------ what must hold after every step

    @invariant()
    def redis_order_is_the_models(self):
        assert [i.decode() for i in self.client.zrange(self.keys.order, 0, -1)] == self.order

    @invariant()
    def order_and_items_hold_the_same_ids_and_the_models_data(self):
        stored = {k.decode(): v for k, v in self.client.hgetall(self.keys.items).items()}
        assert set(stored) == set(self.order) == set(self.items)
        assert {i: service.StagingItem.from_json(i, raw) for i, raw in stored.items()} == self.items

    @invariant()
    def version_only_grows_and_counts_the_changes(self):
        version = service.current_version(self.client, self.prefix)
        assert version == self.version >= self.seen_version
        self.seen_version = version

    @invariant()
    def snapshot_agrees_with_the_model(self):
        snap = service.snapshot(self.client, self.prefix)
        assert (snap.total, snap.version) == (len(self.order), self.version)
        assert [item.id for item in snap.items] == self.order

    @invariant()
    def each_released_item_is_in_the_broker_exactly_once(self):
        found: list[tuple[str, list]] = []
        for key in self.broker_keys:
            for raw in self.client.lrange(key, 0, -1):
                message = json.loads(raw)
                args = json.loads(base64.b64decode(message["body"]))[0]
                found.append((message["headers"]["id"], args))
        assert Counter(task_id for task_id, _ in found) == Counter(self.released.keys())
        assert dict(found) == self.released


def test_staging_list_behaves_like_its_model(redis_client, celery_app, declare_queue):
    machine = type(
        "BoundStagingListMachine",
        (StagingListMachine,),
        {"client": redis_client, "celery_app": celery_app, "declare_queue": staticmethod(declare_queue)},
    )
    run_state_machine_as_test(machine, settings=SETTINGS)
