"""Graph whose only node raises, for observing failed cron runs."""

from typing import TypedDict

from langgraph.graph import END, START, StateGraph


class State(TypedDict, total=False):
    text: str


class BoomError(RuntimeError):
    pass


def boom(state: State) -> State:
    raise BoomError(f"boom: {state.get('text', '')}")


graph = StateGraph(State).add_node("boom", boom).add_edge(START, "boom").add_edge("boom", END).compile()
