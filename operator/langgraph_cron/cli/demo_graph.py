"""The no-LLM graph `lgcron demo` serves as assistant `agent`: it stamps each run so a person can
see every scheduled run arrive. Loaded by the Agent Server subprocess (needs the `server` extra)."""

from datetime import UTC, datetime
from typing import TypedDict

from langgraph.graph import END, START, StateGraph


class DemoState(TypedDict, total=False):
    text: str
    reply: str


def acknowledge(state: DemoState) -> DemoState:
    ran_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"reply": f"ran at {ran_at} with input {state.get('text', '')!r}"}


graph = StateGraph(DemoState).add_node("acknowledge", acknowledge).add_edge(START, "acknowledge").add_edge("acknowledge", END).compile()
