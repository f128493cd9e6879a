"""Custom auth for an Agent Server that checks `x-api-key`, to exercise 401/403 for real.

Keys: VALID_KEY may do anything; READONLY_KEY authenticates but may not create crons (403).
Any other or missing key gets 401. The server echoes nothing of the key back.
"""

from langgraph_sdk import Auth

VALID_KEY = "lgcron-test-valid-key"
READONLY_KEY = "lgcron-test-readonly-key"

auth = Auth()


@auth.authenticate
async def authenticate(headers: dict) -> Auth.types.MinimalUserDict:
    key = headers.get(b"x-api-key") or headers.get("x-api-key")
    key = key.decode() if isinstance(key, bytes) else key
    if key == VALID_KEY:
        return {"identity": "admin"}
    if key == READONLY_KEY:
        return {"identity": "reader"}
    raise Auth.exceptions.HTTPException(status_code=401, detail="Invalid API key")


@auth.on.crons.create
async def only_admin_creates_crons(ctx: Auth.types.AuthContext, value: dict) -> None:
    if ctx.user.identity != "admin":
        raise Auth.exceptions.HTTPException(status_code=403, detail="Not allowed to create crons")
