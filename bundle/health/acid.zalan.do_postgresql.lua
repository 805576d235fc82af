-- Health of a Zalando postgres-operator `postgresql` cluster: Healthy when
-- the operator reports Running and every requested instance is ready
-- (spec.numberOfInstances, 1 when unset). A status ending in Failed
-- (CreateFailed, UpdateFailed, SyncFailed, DeleteFailed) or Invalid is
-- Degraded; anything else is still Progressing.
local result = { status = "Progressing", message = "waiting for the operator to report the cluster's state" }
local wanted = 1
if obj.spec ~= nil and obj.spec.numberOfInstances ~= nil then
  wanted = obj.spec.numberOfInstances
end
if obj.status == nil or obj.status.PostgresClusterStatus == nil then
  return result
end
local state = obj.status.PostgresClusterStatus
local ready = obj.status.readyInstances or 0
result.message = state .. ", " .. ready .. " of " .. wanted .. " instances ready"
if string.find(state, "Failed$") ~= nil or string.find(state, "Invalid$") ~= nil then
  result.status = "Degraded"
elseif state == "Running" and ready == wanted then
  result.status = "Healthy"
end
return result
