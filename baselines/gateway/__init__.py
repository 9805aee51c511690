"""The token-recording gateway: serve any agentgym policy as an OpenAI chat-completions endpoint.

An outside agent program points its OpenAI base URL at the gateway; every call is answered by the
policy and recorded with its exact prompt and completion token ids and logprobs, grouped into
episodes by the `X-Agentgym-Episode` header (or the request's model name), and written as
ordinary agentgym trajectory records (each call one step). `agentgym gateway --policy P --port N`
serves it; `baselines/harness` runs a real harness through it on agentgym tasks.
FastAPI and uvicorn are imported when a server is built.
"""

from agentgym.baselines.gateway.book import GATEWAY_ENV_ID, EpisodeBook, GatewayCall, episode_record
from agentgym.baselines.gateway.server import EPISODE_HEADER, Gateway, GatewayServer, make_app

__all__ = ["EPISODE_HEADER", "GATEWAY_ENV_ID", "EpisodeBook", "Gateway", "GatewayCall", "GatewayServer",
           "episode_record", "make_app"]
