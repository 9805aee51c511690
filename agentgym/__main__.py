from agentgym.cli.main import app

app()
