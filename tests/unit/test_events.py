"""The operator's Events: unique client-go-style names (kopf's generateName collides at scale), posted in the background."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from langgraph_cron.clients.events import (
    MAX_MESSAGE,
    EventPoster,
    build_event,
    unique_ns,
)

BODY = {"apiVersion": "lgcron.io/v1alpha1", "kind": "LangGraphCron",
        "metadata": {"name": "nightly", "namespace": "team-a", "uid": "u-1", "managedFields": [{}]},
        "spec": {"schedule": "0 7 * * *"}}
NOW = datetime(2026, 12, 2, 1, 2, 3, tzinfo=UTC)


def test_an_event_names_its_object_and_carries_a_unique_name():
    event = build_event(BODY, "Warning", "SecretNotFound", "Secret team-a/key not found", NOW, 0x1234)
    assert event["metadata"] == {"name": "nightly.1234", "namespace": "team-a"}
    assert event["involvedObject"] == {"apiVersion": "lgcron.io/v1alpha1", "kind": "LangGraphCron",
                                       "name": "nightly", "namespace": "team-a", "uid": "u-1"}
    assert (event["type"], event["reason"], event["count"]) == ("Warning", "SecretNotFound", 1)
    assert event["firstTimestamp"] == event["lastTimestamp"] == "2026-12-02T01:02:03Z"
    assert event["source"] == {"component": "lgcron-operator"}


def test_names_stay_unique_within_one_clock_tick_and_valid_for_long_object_names():
    stamps = [unique_ns() for _ in range(1000)]
    assert len(set(stamps)) == 1000 and stamps == sorted(stamps)
    long = {**BODY, "metadata": {**BODY["metadata"], "name": "x" * 253}}
    assert len(build_event(long, "Normal", "Created", "m", NOW, stamps[-1])["metadata"]["name"]) <= 253


def test_long_messages_are_cut():
    event = build_event(BODY, "Warning", "Rejected", "y" * 5000, NOW, 1)
    assert len(event["message"]) == MAX_MESSAGE and event["message"].endswith("…")


class RecordingApi:
    def __init__(self, fail_first: int = 0) -> None:
        self.posted: list[tuple[str, dict]] = []
        self.fail_first = fail_first

    async def create_event(self, namespace: str, event: dict) -> None:
        await asyncio.sleep(0.01)
        if self.fail_first:
            self.fail_first -= 1
            raise RuntimeError("apiserver said no")
        self.posted.append((namespace, event))


async def test_the_poster_posts_everything_queued_before_it_closes(caplog):
    api = RecordingApi(fail_first=1)
    poster = EventPoster(api, concurrency=3)
    for i in range(20):
        poster.post(BODY, "Normal", "Created", f"created cron {i}")
    await poster.close()
    assert len(api.posted) == 19  # one failed: logged, not raised, not retried forever
    assert {event["message"] for _, event in api.posted} == {f"created cron {i}" for i in range(1, 20)}
    assert len({event["metadata"]["name"] for _, event in api.posted}) == 19
    assert "could not post Event Created about nightly: apiserver said no" in caplog.text
