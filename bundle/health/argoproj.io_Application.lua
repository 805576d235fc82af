-- Health of an Argo CD Application, as seen by its parent (app-of-apps).
-- Since Argo CD 1.8 a parent no longer rolls its children's health up;
-- this reports the child Application's own status.health instead, so a
-- parent is Healthy only when every child it manages is.
local result = { status = "Progressing", message = "waiting for the application to report its health" }
local health = nil
if obj.status ~= nil then
  health = obj.status.health
end
if health ~= nil and health.status ~= nil and health.status ~= "" then
  result.status = health.status
  if health.message ~= nil then
    result.message = health.message
  else
    result.message = ""
  end
end
return result
