pytest_plugins = ["tests.agent_server_fixture"]
