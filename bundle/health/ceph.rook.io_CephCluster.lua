-- Health of a Rook CephCluster: Healthy only when the operator reports
-- phase Ready and Ceph itself reports HEALTH_OK. HEALTH_ERR, or phase
-- Error or Failure, is Degraded; anything else (HEALTH_WARN, Progressing,
-- no status yet) is still Progressing.
local result = { status = "Progressing", message = "waiting for the operator to report the cluster's state" }
if obj.status == nil then
  return result
end
local phase = obj.status.phase or ""
local ceph = ""
if obj.status.ceph ~= nil and obj.status.ceph.health ~= nil then
  ceph = obj.status.ceph.health
end
result.message = "phase " .. (phase ~= "" and phase or "unknown") .. ", ceph " .. (ceph ~= "" and ceph or "unknown")
if phase == "Error" or phase == "Failure" or ceph == "HEALTH_ERR" then
  result.status = "Degraded"
elseif phase == "Ready" and ceph == "HEALTH_OK" then
  result.status = "Healthy"
end
return result
