-- Argo CD health of a LangGraphServer or ClusterLangGraphServer (resource.customizations.health.
-- lgcron.io_LangGraphServer and lgcron.io_ClusterLangGraphServer). Reads the Ready condition the
-- operator writes after each check of the Agent Server (GET /ok and an authenticated request).
local hs = {status = "Progressing", message = "waiting for the operator"}
if obj.status == nil then
  return hs
end
-- A status about an older spec says nothing about the current one (a new URL or key not checked yet).
if obj.metadata ~= nil and obj.metadata.generation ~= nil and obj.status.observedGeneration ~= obj.metadata.generation then
  return hs
end
local ready = nil
local terminating = nil
if obj.status.conditions ~= nil then
  for _, condition in ipairs(obj.status.conditions) do
    if condition.type == "Ready" then
      ready = condition
    elseif condition.type == "Terminating" then
      terminating = condition
    end
  end
end
local function describe(condition)
  if condition.message ~= nil and condition.message ~= "" then
    return condition.message
  end
  return condition.reason
end
if terminating ~= nil and terminating.status == "True" then
  -- Deleted, but held while LangGraphCrons still refer to it (reason InUse): it completes by itself.
  hs.message = describe(terminating)
  return hs
end
if ready == nil then
  return hs
end
if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready)
elseif ready.status == "False" then
  -- Unreachable, Unauthorized, Forbidden, SecretNotFound, TLSError, ...: crons naming it wait for it.
  hs.status = "Degraded"
  hs.message = describe(ready)
end
return hs
