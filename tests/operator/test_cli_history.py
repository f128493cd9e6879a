"""`lgcron history NAMESPACE/NAME` of a cron on the operator's default server, from a laptop whose
environment names no server: the URL comes from the resource's status.serverUrl, and a key only
where the connector binds one (LGCRON_API_KEY only to LGCRON_SERVER_URL as the user set it)."""

from __future__ import annotations

import uuid

import pytest
from langgraph_cron.clients.agent_server import AgentServerClient, make_http_client
from operator_helpers import resource
from test_cli_errors import assert_one_line_error, cli, write_status

from tests.graphs.auth import VALID_KEY

pytestmark = [pytest.mark.operator, pytest.mark.timeout(120)]


async def test_history_of_a_default_server_cron_lists_its_runs(kube, agent_server):
    uid = (await kube.create(resource("nightly", onRunCompleted="keep")))["metadata"]["uid"]
    await write_status(kube, "nightly", {"serverUrl": agent_server.url})
    async with make_http_client(timeout=30) as http:
        server = AgentServerClient(http, agent_server.url)
        thread = await server.create_thread(str(uuid.uuid4()), metadata={"lgcron.io/uid": uid})
        run = await server.create_run(thread, {"assistant_id": "agent", "input": {"text": "hi"},
                                               "metadata": {"lgcron.io/uid": uid}})
        await server.join_run(thread, run.run_id)
        try:
            code, out, err = await cli("history", f"{kube.namespace}/nightly")
        finally:
            await server.delete_thread(thread, missing_ok=True)
    assert (code, err) == (0, ""), out + err
    header, *rows = out.splitlines()
    assert header.split()[:3] == ["RUN", "THREAD", "RESULT"]
    assert [row.split()[:3] for row in rows] == [[run.run_id, thread, "Succeeded"]]


async def test_history_of_a_cron_not_reconciled_yet_says_so(kube):
    await kube.create(resource("fresh"))
    result = await cli("history", f"{kube.namespace}/fresh")
    assert_one_line_error(result, "history", 2, "has not been reconciled yet", "status.serverUrl")


async def test_a_default_server_that_wants_a_key_says_which_settings_send_it(kube, auth_server):
    await kube.create(resource("keyed"))
    await write_status(kube, "keyed", {"serverUrl": auth_server.url})
    url = auth_server.url
    # LGCRON_API_KEY alone is not sent: it is bound to LGCRON_SERVER_URL, which is not this URL.
    for env in ({}, {"LGCRON_API_KEY": VALID_KEY}, {"LGCRON_SERVER_URL": "http://elsewhere.invalid",
                                                   "LGCRON_API_KEY": VALID_KEY}):
        result = await cli("history", f"{kube.namespace}/keyed", env=env)
        assert_one_line_error(result, "history", 3, f"the cron uses the operator's default server {url}",
                              f"set LGCRON_SERVER_URL={url} and LGCRON_API_KEY")
        assert VALID_KEY not in result[2]
    code, out, err = await cli("history", f"{kube.namespace}/keyed",
                               env={"LGCRON_SERVER_URL": url, "LGCRON_API_KEY": VALID_KEY})
    assert (code, err) == (0, ""), out + err
    assert out.startswith("no runs kept")
