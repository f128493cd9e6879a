"""No-LLM graph for the real Agent Server in tests: input {"text": s} -> output {"text": s, "reply": "echo: s"}.

It can be made to fail: a text starting with "fail:" raises, so one cron can go from succeeding
runs to failing ones by a change of its input alone. And slow: "sleep:SECONDS" waits that long.
"""

import time
from typing import TypedDict

from langgraph.graph import END, START, StateGraph


class State(TypedDict, total=False):
    text: str
    reply: str


class EchoFailed(RuntimeError):
    pass


def echo(state: State) -> State:
    text = state.get("text", "")
    if text.startswith("fail:"):
        raise EchoFailed(text)
    if text.startswith("sleep:"):
        time.sleep(float(text.removeprefix("sleep:")))
    return {"reply": f"echo: {state.get('text', '')}"}


graph = StateGraph(State).add_node("echo", echo).add_edge(START, "echo").add_edge("echo", END).compile()
