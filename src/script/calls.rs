//! Calls of functions that exist nowhere, found at compile time.
//!
//! Rhai resolves function calls when they run, so a misspelt
//! `k8s::aply(...)` or a call of a function the script never defines used
//! to surface only when that line ran — after the cluster was touched
//! (issue 18). Every script is compiled up front; this walks its AST and
//! names each plain or primitive-namespace call whose name is neither
//! registered with the engine (primitives, Rhai's standard package, the
//! executor's helpers), nor defined in the script, nor one of Rhai's
//! keyword functions. Arity is not checked (Rhai overloads by it, and a
//! call may reach a function pointer), method calls are not checked
//! (`x.len()` may be a property or a closure), and calls into a module the
//! script imports are left to run time.

use std::collections::HashSet;

use rhai::{AST, ASTNode, Engine, Expr, Position, Stmt};

/// Rhai's keyword functions, handled by the evaluator itself.
const KEYWORDS: &[&str] = &[
    "print",
    "debug",
    "type_of",
    "Fn",
    "call",
    "curry",
    "is_def_fn",
    "is_def_var",
    "is_shared",
    "eval",
];

/// The names every script may call: `name` for global functions,
/// `namespace::name` for the primitives.
#[derive(Debug, Clone, Default)]
pub struct KnownFunctions {
    names: HashSet<String>,
    namespaces: HashSet<String>,
}

impl KnownFunctions {
    /// Collects the names registered with `engine` (its metadata).
    pub fn of(engine: &Engine) -> Self {
        let mut known = KnownFunctions::default();
        for signature in engine.gen_fn_signatures(true) {
            let head = signature.trim_start_matches("pub ").trim_start_matches("fn ");
            let Some(name) = head.split('(').next() else { continue };
            if let Some((namespace, _)) = name.rsplit_once("::") {
                known.namespaces.insert(namespace.to_owned());
            }
            known.names.insert(name.trim().to_owned());
        }
        known
    }
}

/// Each call in `ast` of a function that exists nowhere, with its position.
pub fn unknown(known: &KnownFunctions, ast: &AST) -> Vec<(String, Position)> {
    let defined: HashSet<&str> = ast.iter_functions().map(|f| f.name).collect();
    let mut found = Vec::new();
    ast.walk(&mut |path: &[ASTNode]| {
        // A call as a statement is a `Stmt::FnCall`, within an expression an `Expr::FnCall`.
        let call = match path.last() {
            Some(ASTNode::Expr(Expr::FnCall(call, position)) | ASTNode::Stmt(Stmt::FnCall(call, position))) => {
                Some((call, position))
            }
            _ => None,
        };
        if let Some((call, position)) = call
            && call.op_token.is_none()
            && call.name.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
        {
            let name = call.name.as_str();
            let missing = if call.namespace.is_empty() {
                !(known.names.contains(name) || defined.contains(name) || KEYWORDS.contains(&name))
            } else {
                let namespace = namespace_of(call);
                // Only the primitives' namespaces: an imported module's
                // functions are known when the import runs.
                known.namespaces.contains(&namespace) && !known.names.contains(&format!("{namespace}::{name}"))
            };
            if missing {
                let shown = if call.namespace.is_empty() {
                    name.to_owned()
                } else {
                    format!("{}::{name}", call.namespace)
                };
                found.push((shown, *position));
            }
        }
        true
    });
    found
}

/// The namespace a call is qualified with (`k8s`, `a::b`), empty for none.
pub(crate) fn namespace_of(call: &rhai::FnCallExpr) -> String {
    call.namespace
        .path
        .iter()
        .map(|segment| segment.as_str())
        .collect::<Vec<_>>()
        .join("::")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> Engine {
        let mut engine = Engine::new();
        let mut module = rhai::Module::new();
        module.set_native_fn("apply", |x: i64| Ok(x));
        engine.register_static_module("k8s", module.into());
        engine
    }

    fn unknown_in(script: &str) -> Vec<String> {
        let engine = engine();
        let ast = engine.compile(script).unwrap();
        unknown(&KnownFunctions::of(&engine), &ast)
            .into_iter()
            .map(|(name, _)| name)
            .collect()
    }

    #[test]
    fn misspelt_primitives_and_undefined_functions_are_named() {
        assert_eq!(unknown_in("k8s::aply(1);"), ["k8s::aply"]);
        assert_eq!(unknown_in("fn f() { helper(1) }\nf();"), ["helper"]);
        let engine = engine();
        let ast = engine.compile("let x = 1;\nk8s::aply(x);").unwrap();
        let found = unknown(&KnownFunctions::of(&engine), &ast);
        assert_eq!(found[0].1.line(), Some(2));
    }

    #[test]
    fn what_exists_somewhere_is_not_named() {
        let script = "fn helper(a) { a }\nlet f = |x| helper(x) + 1;\nlet a = [3, 1];\na.sort();\n\
                      print(type_of(a));\nk8s::apply(len(\"ab\"));\nlet g = Fn(\"helper\");\ncall(g, 1);\n\
                      if is_def_fn(\"helper\", 1) { debug(f.call(2)); }\nlet t = timestamp();\n";
        assert_eq!(unknown_in(script), Vec::<String>::new());
    }
}
