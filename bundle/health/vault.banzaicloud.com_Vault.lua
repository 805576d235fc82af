-- Health of a Bank-Vaults `Vault`: Healthy when it is initialised,
-- unsealed and has an active (leader) node. Initialised but sealed is
-- Degraded: it cannot serve until someone or something unseals it. Not yet
-- initialised, or no leader yet, is still Progressing.
local result = { status = "Progressing", message = "waiting for the operator to report the vault's state" }
if obj.status == nil then
  return result
end
local initialized = obj.status.initialized == true
local sealed = obj.status.sealed == true
local leader = obj.status.leader
local has_leader = leader ~= nil and leader ~= ""
if initialized and sealed then
  result.status = "Degraded"
  result.message = "initialised but sealed"
elseif initialized and obj.status.sealed == false and has_leader then
  result.status = "Healthy"
  result.message = "initialised, unsealed, active node " .. leader
elseif not initialized then
  result.message = "not initialised yet"
elseif not has_leader then
  result.message = "unsealed, no active node yet"
end
return result
