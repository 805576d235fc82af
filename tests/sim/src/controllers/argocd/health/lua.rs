//! Health checks configured in `argocd-cm`, run as Argo CD runs them: a
//! real Lua 5.1 (mlua, vendored) in Argo CD's sandbox (argo-cd
//! `util/lua/lua.go`, `runLuaWithResourceActionParameters` and
//! `ExecuteHealthLua`; `util/settings/settings.go` for the keys).
//!
//! - Keys: `resource.customizations.health.<group>_<Kind>` (or `<Kind>` for
//!   the core group) holds the script; `resource.customizations.useOpenLibs.
//!   <group>_<Kind>: "true"` opens Lua's standard libraries for it. A key
//!   may be a glob (`*.example.com_*`).
//! - Sandbox: a fresh state per run with only the base, table and package
//!   libraries and a safe `os` (`time`, `date`); no `string`, `io`, `math`
//!   or `debug` unless `useOpenLibs`. The object is the global `obj`
//!   (JSON numbers are Lua numbers, `null` is nil). A run stops after 1 s.
//! - Result: a table `{status, message}`. A status Argo CD does not define
//!   is Unknown "Lua returned an invalid health status"; an empty table,
//!   nil or a field of the wrong type is no verdict (Argo CD records an
//!   empty health and does not count it); anything else, or a script
//!   error, is an error: the caller makes the resource Unknown with it.
//!
//! The chunk is named after the `argocd-cm` key, so an error names the
//! check (`resource.customizations.health.acid.zalan.do_postgresql:17:
//! attempt to index global 'string' (a nil value)`); gopher-lua says
//! `<string>:17:` and words some errors differently.

use super::{Health, Verdict};
use mlua::{HookTriggers, Lua, LuaOptions, StdLib, Table, Value as LuaValue, VmState};
use serde_json::{Map, Value};
use std::time::{Duration, Instant};

/// The prefix of health script keys in `argocd-cm`.
pub const HEALTH_PREFIX: &str = "resource.customizations.health.";
/// The prefix of the keys that open Lua's libraries for a script.
pub const OPEN_LIBS_PREFIX: &str = "resource.customizations.useOpenLibs.";
/// How long one run may take (Argo CD's context timeout).
const TIMEOUT: Duration = Duration::from_secs(1);

/// One configured health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The `argocd-cm` key it came from.
    pub key: String,
    /// `group/Kind` (or `Kind`), possibly a glob.
    pub group_kind: String,
    /// The Lua source.
    pub script: String,
    /// Whether the standard libraries are opened.
    pub open_libs: bool,
}

/// The checks of an `argocd-cm` `data` map, sorted by key.
pub fn checks(data: &Map<String, Value>) -> Vec<Check> {
    let mut out: Vec<Check> = data
        .iter()
        .filter_map(|(key, script)| {
            let group_kind = key.strip_prefix(HEALTH_PREFIX)?;
            let script = script.as_str().filter(|s| !s.is_empty())?;
            let open_libs = data
                .get(&format!("{OPEN_LIBS_PREFIX}{group_kind}"))
                .and_then(Value::as_str)
                .is_some_and(|v| matches!(v, "true" | "1" | "t" | "T" | "TRUE" | "True"));
            Some(Check {
                key: key.clone(),
                group_kind: override_key(group_kind),
                script: script.to_string(),
                open_libs,
            })
        })
        .collect();
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out
}

/// `convertToOverrideKey`: `group_Kind` → `group/Kind`; `Kind` stays.
fn override_key(group_kind: &str) -> String {
    match group_kind.split_once('_') {
        Some((group, kind)) => format!("{group}/{kind}"),
        None => group_kind.to_string(),
    }
}

/// `GetConfigMapKey`: `group/Kind`, or `Kind` for the core group.
pub fn object_key(group: &str, kind: &str) -> String {
    if group.is_empty() {
        kind.to_string()
    } else {
        format!("{group}/{kind}")
    }
}

/// The check for an object key: an exact key first, then a glob.
pub fn find<'a>(checks: &'a [Check], key: &str) -> Option<&'a Check> {
    checks.iter().find(|c| c.group_kind == key).or_else(|| {
        checks
            .iter()
            .find(|c| c.group_kind.contains('*') && glob(&c.group_kind, key))
    })
}

/// `*` matches any run of characters.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

/// Runs a check on an object: `Ok(None)` when the script gives no verdict.
pub fn run(check: &Check, obj: &Value) -> Result<Option<Verdict>, String> {
    let lua = sandbox(check.open_libs).map_err(|e| first_line(&e))?;
    let started = Instant::now();
    lua.set_hook(HookTriggers::new().every_nth_instruction(1000), move |_, _| {
        if started.elapsed() > TIMEOUT {
            Err(mlua::Error::runtime("context deadline exceeded"))
        } else {
            Ok(VmState::Continue)
        }
    })
    .map_err(|e| first_line(&e))?;
    let globals = lua.globals();
    globals.set("obj", to_lua(&lua, obj)).map_err(|e| first_line(&e))?;
    let chunk = lua.load(check.script.as_str()).set_name(format!("={}", check.key));
    let result: LuaValue = chunk.eval().map_err(|e| first_line(&e))?;
    match result {
        LuaValue::Nil => Ok(None),
        LuaValue::Table(table) => verdict(&table),
        other => Err(format!(
            "expect table output from Lua script, not {}",
            other.type_name()
        )),
    }
}

/// A fresh state with Argo CD's libraries.
fn sandbox(open_libs: bool) -> mlua::Result<Lua> {
    if open_libs {
        return Ok(Lua::new());
    }
    let lua = Lua::new_with(StdLib::TABLE | StdLib::PACKAGE, LuaOptions::default())?;
    let os = lua.create_table()?;
    os.set(
        "time",
        lua.create_function(|_, ()| Ok(jiff::Timestamp::now().as_second()))?,
    )?;
    os.set(
        "date",
        lua.create_function(|_, format: Option<String>| {
            let format = format.unwrap_or_else(|| "%c".into());
            let now = jiff::Timestamp::now();
            let zoned = match format.strip_prefix('!') {
                Some(_) => now.to_zoned(jiff::tz::TimeZone::UTC),
                None => now.to_zoned(jiff::tz::TimeZone::system()),
            };
            Ok(zoned.strftime(format.trim_start_matches('!')).to_string())
        })?,
    )?;
    lua.globals().set("os", os.clone())?;
    // `require("os")` works too (Argo CD preloads its safe os).
    let loaded: Table = lua.globals().get::<Table>("package")?.get("loaded")?;
    loaded.set("os", os)?;
    Ok(lua)
}

/// The status and message of a returned table, as Argo CD decodes them.
fn verdict(table: &Table) -> Result<Option<Verdict>, String> {
    if table.is_empty() {
        return Ok(None);
    }
    let status: LuaValue = table.raw_get("status").map_err(|e| first_line(&e))?;
    let message: LuaValue = table.raw_get("message").map_err(|e| first_line(&e))?;
    let message = match message {
        LuaValue::Nil => String::new(),
        LuaValue::String(s) => s.to_string_lossy(),
        _ => return Ok(None),
    };
    let status = match status {
        LuaValue::Nil => String::new(),
        LuaValue::String(s) => s.to_string_lossy(),
        _ => return Ok(None),
    };
    let health = match status.as_str() {
        "Healthy" => Health::Healthy,
        "Progressing" => Health::Progressing,
        "Suspended" => Health::Suspended,
        "Degraded" => Health::Degraded,
        "Missing" => Health::Missing,
        "Unknown" => Health::Unknown,
        _ => return Ok(Some((Health::Unknown, "Lua returned an invalid health status".into()))),
    };
    Ok(Some((health, message)))
}

/// JSON as Argo CD's `decodeValue` makes it: numbers are numbers, `null`
/// is nil (a key holding it is absent), arrays are 1-based tables.
fn to_lua(lua: &Lua, value: &Value) -> LuaValue {
    let converted = match value {
        Value::Null => return LuaValue::Nil,
        Value::Bool(b) => return LuaValue::Boolean(*b),
        Value::Number(n) => return LuaValue::Number(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => lua.create_string(s).map(LuaValue::String),
        Value::Array(items) => lua.create_table().and_then(|t| {
            for (i, item) in items.iter().enumerate() {
                t.raw_set(i + 1, to_lua(lua, item))?;
            }
            Ok(LuaValue::Table(t))
        }),
        Value::Object(map) => lua.create_table().and_then(|t| {
            for (k, v) in map {
                t.raw_set(k.as_str(), to_lua(lua, v))?;
            }
            Ok(LuaValue::Table(t))
        }),
    };
    converted.unwrap_or(LuaValue::Nil)
}

/// An error's message without Lua's stack traceback (Argo CD strips it).
fn first_line(error: &mlua::Error) -> String {
    let text = match error {
        mlua::Error::RuntimeError(message) | mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::CallbackError { cause, .. } => return first_line(cause),
        other => other.to_string(),
    };
    text.split("\nstack traceback:").next().unwrap_or("").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(script: &str, open_libs: bool) -> Check {
        Check {
            key: "resource.customizations.health.example.com_Thing".into(),
            group_kind: "example.com/Thing".into(),
            script: script.into(),
            open_libs,
        }
    }

    #[test]
    fn the_sandbox_has_no_string_library_unless_opened() {
        let script = "if string.find(obj.status.phase, 'Ready') then return {status='Healthy'} end return {status='Progressing'}";
        let obj = json!({"status": {"phase": "Ready"}});
        let error = run(&check(script, false), &obj).unwrap_err();
        assert_eq!(
            error,
            "resource.customizations.health.example.com_Thing:1: attempt to index global 'string' (a nil value)"
        );
        assert_eq!(
            run(&check(script, true), &obj).unwrap(),
            Some((Health::Healthy, String::new()))
        );
        for missing in ["io", "math", "debug"] {
            let probe = format!("return {{status = {missing} == nil and 'Healthy' or 'Degraded'}}");
            assert_eq!(
                run(&check(&probe, false), &obj).unwrap().unwrap().0,
                Health::Healthy,
                "{missing}"
            );
        }
        let safe = "local t = os.time(); local d = os.date('!%Y'); return {status = (os.exit == nil and type(t) == 'number' and #d == 4) and 'Healthy' or 'Degraded'}";
        assert_eq!(run(&check(safe, false), &obj).unwrap().unwrap().0, Health::Healthy);
    }

    #[test]
    fn results_decode_as_in_argo_cd() {
        let obj = json!({"spec": {"n": 2}, "status": {"list": [1, 2, 3], "gone": null}});
        let numbers = "return {status = (obj.spec.n == 2 and #obj.status.list == 3 and obj.status.gone == nil) and 'Healthy' or 'Degraded', message = 'n=' .. obj.spec.n}";
        assert_eq!(
            run(&check(numbers, false), &obj).unwrap(),
            Some((Health::Healthy, "n=2".into()))
        );
        assert_eq!(
            run(&check("return {status = 'Fine'}", false), &obj).unwrap(),
            Some((Health::Unknown, "Lua returned an invalid health status".into()))
        );
        assert_eq!(run(&check("return {}", false), &obj).unwrap(), None);
        assert_eq!(run(&check("return nil", false), &obj).unwrap(), None);
        assert_eq!(
            run(&check("return 'Healthy'", false), &obj).unwrap_err(),
            "expect table output from Lua script, not string"
        );
        let endless = "while true do end";
        assert_eq!(
            run(&check(endless, false), &obj).unwrap_err(),
            "context deadline exceeded"
        );
    }

    #[test]
    fn keys_and_globs() {
        let data = json!({
            "resource.customizations.health.acid.zalan.do_postgresql": "return nil",
            "resource.customizations.useOpenLibs.acid.zalan.do_postgresql": "true",
            "resource.customizations.health.Service": "return nil",
            "resource.customizations.health.*.example.com_*": "return nil",
            "resource.exclusions": "- x",
        });
        let found = checks(data.as_object().unwrap());
        assert_eq!(found.len(), 3);
        let pg = find(&found, &object_key("acid.zalan.do", "postgresql")).unwrap();
        assert!(pg.open_libs);
        assert!(find(&found, &object_key("", "Service")).is_some());
        assert_eq!(
            find(&found, &object_key("a.example.com", "Gadget")).unwrap().key,
            "resource.customizations.health.*.example.com_*"
        );
        assert!(find(&found, &object_key("apps", "Deployment")).is_none());
    }
}
