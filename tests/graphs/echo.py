"""No-LLM graph for the real Agent Server in tests: input {"text": s} -> output {"text": s, "reply": "echo: s"}."""

from typing import TypedDict

from langgraph.graph import END, START, StateGraph


class State(TypedDict, total=False):
    text: str
    reply: str


def echo(state: State) -> State:
    return {"reply": f"echo: {state.get('text', '')}"}


graph = StateGraph(State).add_node("echo", echo).add_edge(START, "echo").add_edge("echo", END).compile()
