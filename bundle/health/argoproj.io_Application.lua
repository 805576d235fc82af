-- Health of an Argo CD Application as seen by its parent (app-of-apps).
-- Argo CD has no built-in check for Applications: since Argo CD 1.8 a
-- child's health no longer rolls up. This reports the child's own
-- status.health, so a parent is Healthy only when every child it manages is.
-- Twin of stdlib/health/argoproj.io_Application.rhai: both are held to
-- bundle/health/cases.json. Runs in Argo CD's sandbox (no string library).
local known = { Healthy = true, Progressing = true, Degraded = true, Suspended = true, Missing = true, Unknown = true }
local health = nil
if type(obj.status) == "table" then
  health = obj.status.health
end
if type(health) ~= "table" or health.status == nil or health.status == "" then
  return { status = "Progressing", message = "Waiting for the application to report its health" }
end
local message = ""
if health.message ~= nil then
  message = tostring(health.message)
end
if known[health.status] then
  return { status = health.status, message = message }
end
return { status = "Unknown", message = "the application reports an unknown health status " .. tostring(health.status) }
