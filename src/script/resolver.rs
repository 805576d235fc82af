//! `import` for scripts: modules come from the bundle tree, overrides first.
//!
//! `import "stdlib/argocd" as argocd;` loads `$CONFIG_DIR/scripts/stdlib/argocd.rhai`
//! when mounted, else the bundled `stdlib/argocd.rhai`. Nothing else can be
//! imported: no file system paths, no `..`. Each module is compiled once per
//! run, and the log says whether it is bundled or an override.

use std::collections::HashMap;
use std::sync::Mutex;

use rhai::{Engine, EvalAltResult, Module, ModuleResolver, Position, Scope, Shared};

use super::error::Origins;
use super::source::Library;

/// The module resolver of every engine the executor builds.
pub struct Resolver {
    library: Library,
    origins: Origins,
    cache: Mutex<HashMap<String, Shared<Module>>>,
}

impl Resolver {
    /// A resolver over `library`, recording origins for error messages.
    pub fn new(library: Library, origins: Origins) -> Self {
        Resolver {
            library,
            origins,
            cache: Mutex::new(HashMap::new()),
        }
    }
}

fn in_module(path: &str, message: String, pos: Position) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorInModule(
        path.into(),
        Box::new(EvalAltResult::ErrorRuntime(message.into(), Position::NONE)),
        pos,
    ))
}

impl ModuleResolver for Resolver {
    fn resolve(
        &self,
        engine: &Engine,
        _source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<Shared<Module>, Box<EvalAltResult>> {
        let name = if path.ends_with(".rhai") {
            path.to_owned()
        } else {
            format!("{path}.rhai")
        };
        if let Some(module) = self.cache.lock().ok().and_then(|c| c.get(&name).cloned()) {
            return Ok(module);
        }
        let source = self
            .library
            .tree(&name)
            .map_err(|message| in_module(path, message, pos))?;
        self.origins.record(&source.display, source.origin);
        tracing::info!(
            phase = "scripts",
            "module {path}: {} ({})",
            source.display,
            source.origin
        );
        let mut ast = engine
            .compile(&source.text)
            .map_err(|error| Box::new(EvalAltResult::ErrorInModule(path.into(), Box::new(error.into()), pos)))?;
        ast.set_source(source.display.as_str());
        let module: Shared<Module> = Module::eval_ast_as_new(Scope::new(), &ast, engine)
            .map_err(|error| Box::new(EvalAltResult::ErrorInModule(path.into(), error, pos)))?
            .into();
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(name, module.clone());
        }
        Ok(module)
    }
}
