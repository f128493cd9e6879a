"""core/server_lookup.py: the operator's ServerDirectory, what the watch delivered and what was read
from the API before it did."""

from langgraph_cron.core.connections import ServerKey
from langgraph_cron.core.server_lookup import LOOKED_UP_SECONDS, ServerDirectory

KEY = ServerKey("ClusterLangGraphServer", None, "shared")
OTHER = ServerKey("LangGraphServer", "team", "shared")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def body(url: str) -> dict:
    return {"kind": KEY.kind, "metadata": {"name": KEY.name}, "spec": {"url": url}}


def test_a_looked_up_copy_stands_in_until_it_is_stale():
    clock = Clock()
    directory = ServerDirectory(clock)
    assert directory.unseen([KEY, OTHER]) == [KEY, OTHER]
    directory.looked_up_server(KEY, body("https://a"))
    directory.looked_up_server(OTHER, None)  # the API said 404: remembered as well
    assert directory.unseen([KEY, OTHER]) == []
    assert directory.server(KEY)["spec"]["url"] == "https://a" and directory.server(OTHER) is None
    assert directory.servers == {}  # the checks and passes work on what the watch delivered only
    clock.now += LOOKED_UP_SECONDS
    assert directory.server(KEY) is None and directory.unseen([KEY, OTHER]) == [KEY, OTHER]


def test_what_the_watch_delivers_outranks_a_looked_up_copy_and_a_deletion_drops_both():
    directory = ServerDirectory(Clock())
    directory.looked_up_server(KEY, body("https://old"))
    directory.keep("cluster", KEY, body("https://new"), deleted=False)
    assert directory.server(KEY)["spec"]["url"] == "https://new"
    assert list(directory.servers) == [KEY]
    directory.looked_up_server(KEY, body("https://stale"))  # read just before the DELETED event came
    directory.keep("cluster", KEY, body("https://new"), deleted=True)
    assert directory.server(KEY) is None and directory.unseen([KEY]) == [KEY]


def test_namespace_labels_looked_up():
    clock = Clock()
    directory = ServerDirectory(clock)
    assert directory.labels_unseen("team") and directory.namespace_labels("team") is None
    directory.looked_up_labels("team", {"tier": "paid"})
    assert not directory.labels_unseen("team") and directory.namespace_labels("team") == {"tier": "paid"}
    directory.keep("namespaces", "team", {"tier": "free"}, deleted=False)
    assert directory.namespace_labels("team") == {"tier": "free"}


def test_stale_copies_do_not_pile_up():
    clock = Clock()
    directory = ServerDirectory(clock)
    for i in range(300):
        directory.looked_up_server(ServerKey("LangGraphServer", f"ns-{i}", "gone"), None)
        clock.now += 1.0
    assert len(directory.looked_up) < 256
    assert directory.unseen([ServerKey("LangGraphServer", "ns-299", "gone")]) == []
