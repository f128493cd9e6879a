-- Argo CD health of a LangGraphCron (resource.customizations.health.lgcron.io_LangGraphCron).
-- Reads the kstatus-style conditions the operator writes: Ready, Reconciling, Stalled.
local hs = {status = "Progressing", message = "waiting for the operator"}
if obj.status == nil or obj.status.conditions == nil then
  return hs
end
-- Conditions about an older spec say nothing about the current one.
if obj.metadata ~= nil and obj.metadata.generation ~= nil and obj.status.observedGeneration ~= obj.metadata.generation then
  return hs
end
local conditions = {}
for _, condition in ipairs(obj.status.conditions) do
  conditions[condition.type] = condition
end
local ready = conditions["Ready"]
if ready == nil then
  return hs
end
local function is_true(condition)
  return condition ~= nil and condition.status == "True"
end
local function describe(condition)
  if condition.message ~= nil and condition.message ~= "" then
    return condition.message
  end
  return condition.reason
end
if is_true(conditions["Stalled"]) then
  -- Nothing is retried until the spec changes.
  hs.status = "Degraded"
  hs.message = describe(ready)
elseif ready.status == "True" then
  -- Suspended: spec.enabled is false. Expired (endTime passed) stays Healthy: the cron did its job.
  hs.status = ready.reason == "Suspended" and "Suspended" or "Healthy"
  hs.message = describe(ready)
elseif is_true(conditions["Reconciling"]) then
  -- The operator retries by itself (server down, Secret missing, ...).
  hs.status = "Progressing"
  hs.message = describe(conditions["Reconciling"])
else
  hs.status = "Degraded"
  hs.message = describe(ready)
end
return hs
