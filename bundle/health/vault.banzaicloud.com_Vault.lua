-- Health of a Bank-Vaults `Vault` (vault.banzaicloud.com/v1alpha1), which
-- Argo CD has no check for. Twin of stdlib/health/vault.banzaicloud.com_Vault.rhai:
-- both are held to bundle/health/cases.json. Runs in Argo CD's sandbox
-- (base, table, os.time/os.date only: no string library).
--   not initialised           -> Progressing
--   sealed                    -> Degraded
--   seal state not reported   -> Progressing
--   no active node (leader)   -> Progressing
--   otherwise                 -> Healthy
local status = obj.status
if type(status) ~= "table" or status.initialized ~= true then
  return { status = "Progressing", message = "not initialised" }
end
if status.sealed == true then
  return { status = "Degraded", message = "sealed: unseal it" }
end
if status.sealed ~= false then
  return { status = "Progressing", message = "seal state not reported yet" }
end
if type(status.leader) ~= "string" or status.leader == "" then
  return { status = "Progressing", message = "no active node" }
end
return { status = "Healthy", message = "initialised, unsealed, active node " .. status.leader }
