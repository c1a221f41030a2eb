//! The house's import rules, read from the source: the layers import downward only (files ← scene ← mix ←
//! the rest), the core names no global and nothing above it, and no two files of `src/` import each other,
//! however long the way round.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file under `src/`: `src/mix/input/mod.rs` → `[mix, input]`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        parts.pop();
    }
    parts
}

/// The file's code as the build sees it outside tests: comments and the `#[cfg(test)] mod tests` block dropped.
fn code_of(file: &Path) -> String {
    let text = std::fs::read_to_string(file).unwrap();
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => &text,
    };
    text.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

/// Every path the code names that starts at `crate`, `super`, `self` or one of `children`, with `use` groups
/// (`a::{b, c::d}`) spelt out.
fn named_paths(code: &str, children: &BTreeSet<String>) -> Vec<Vec<String>> {
    let tokens = tokenize(code);
    let mut paths = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if tokens[i] == "use" {
            let end = tokens[i..].iter().position(|t| t == ";").map_or(tokens.len(), |p| i + p);
            expand_use(&tokens[i + 1..end], &[], &mut paths);
            i = end;
            continue;
        }
        let starts = |t: &str| matches!(t, "crate" | "super" | "self") || children.contains(t);
        if starts(&tokens[i]) && (i == 0 || tokens[i - 1] != "::") && tokens.get(i + 1).is_some_and(|t| t == "::") {
            let mut path = vec![tokens[i].clone()];
            let mut j = i + 1;
            while tokens.get(j).is_some_and(|t| t == "::") && tokens.get(j + 1).is_some_and(|t| is_ident(t)) {
                path.push(tokens[j + 1].clone());
                j += 2;
            }
            paths.push(path);
            i = j;
            continue;
        }
        i += 1;
    }
    paths.retain(|p| starts_at_home(p, children));
    paths
}

fn starts_at_home(path: &[String], children: &BTreeSet<String>) -> bool {
    path.first().is_some_and(|t| matches!(t.as_str(), "crate" | "super" | "self") || children.contains(t))
}

fn is_ident(t: &str) -> bool {
    t.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
}

/// Identifiers, `::` and single punctuation; string literals skipped.
fn tokenize(code: &str) -> Vec<String> {
    let chars: Vec<char> = code.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(chars[start..i].iter().collect());
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            tokens.push("::".into());
            i += 2;
        } else {
            if !c.is_whitespace() {
                tokens.push(c.to_string());
            }
            i += 1;
        }
    }
    tokens
}

/// `use` trees: `a::b::{c, d::{e, f}}` → `a::b::c`, `a::b::d::e`, `a::b::d::f`.
fn expand_use(tokens: &[String], prefix: &[String], out: &mut Vec<Vec<String>>) {
    let mut current = prefix.to_vec();
    let mut i = 0;
    while i < tokens.len() {
        let t = tokens[i].as_str();
        match t {
            "{" => {
                let mut depth = 0;
                let mut j = i;
                loop {
                    match tokens[j].as_str() {
                        "{" => depth += 1,
                        "}" => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                for part in split_top_level(&tokens[i + 1..j]) {
                    expand_use(part, &current, out);
                }
                return;
            }
            "::" => {}
            "as" => break,
            _ if is_ident(t) => current.push(t.to_owned()),
            _ => {}
        }
        i += 1;
    }
    if !current.is_empty() {
        out.push(current);
    }
}

fn split_top_level(tokens: &[String]) -> Vec<&[String]> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, t) in tokens.iter().enumerate() {
        match t.as_str() {
            "{" => depth += 1,
            "}" => depth -= 1,
            "," if depth == 0 => {
                parts.push(&tokens[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&tokens[start..]);
    parts
}

/// The file a path leads to: the longest prefix of it that is a module with a file of its own.
fn file_of(path: &[String], module: &[String], modules: &BTreeMap<Vec<String>, PathBuf>) -> Option<PathBuf> {
    let mut absolute: Vec<String> = Vec::new();
    let mut rest = path;
    match path.first().map(String::as_str) {
        Some("crate") => rest = &path[1..],
        Some("self") => {
            absolute = module.to_vec();
            rest = &path[1..];
        }
        Some("super") => {
            absolute = module.to_vec();
            while rest.first().is_some_and(|t| t == "super") {
                absolute.pop();
                rest = &rest[1..];
            }
        }
        _ => absolute = module.to_vec(),
    }
    absolute.extend(rest.iter().cloned());
    (0..=absolute.len()).rev().find_map(|k| modules.get(&absolute[..k]).cloned())
}

/// Which files each file of `src/` imports (paths into other files; a `mod x;` line is not an import).
fn imports() -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeMap<Vec<String>, PathBuf> = files.iter().map(|f| (module_of(&src, f), f.clone())).collect();
    let mut graph = BTreeMap::new();
    for file in &files {
        let module = module_of(&src, file);
        let code = code_of(file);
        let children: BTreeSet<String> = code
            .lines()
            .filter_map(|l| {
                let l = l.trim();
                let l = l.strip_prefix("pub ").or_else(|| l.strip_prefix("pub(crate) ")).unwrap_or(l);
                l.strip_prefix("mod ")?.strip_suffix(';').map(str::to_owned)
            })
            .collect();
        let targets: BTreeSet<PathBuf> = named_paths(&code, &children)
            .iter()
            .filter_map(|p| file_of(p, &module, &modules))
            .filter(|t| t != file)
            .collect();
        graph.insert(file.strip_prefix(&src).unwrap().to_owned(), targets);
    }
    graph
        .into_iter()
        .map(|(f, ts)| (f, ts.into_iter().map(|t| t.strip_prefix(&src).unwrap().to_owned()).collect()))
        .collect()
}

#[test]
fn the_core_imports_only_downward() {
    let graph = imports();
    let layer_of = |p: &Path| p.iter().next().unwrap().to_string_lossy().trim_end_matches(".rs").to_owned();
    // What each layer may name (beside itself).
    // The room's server is Bevy-free too: it knows the scene's limits and nothing of the stage.
    let allowed: [(&str, &[&str]); 4] =
        [("files", &[]), ("scene", &["files"]), ("mix", &["files", "scene"]), ("room", &["files", "scene"])];
    let mut broken = Vec::new();
    for (file, targets) in &graph {
        let layer = layer_of(file);
        let Some((_, may)) = allowed.iter().find(|(l, _)| *l == layer) else { continue };
        for target in targets {
            let to = layer_of(target);
            if to != layer && !may.contains(&to.as_str()) {
                broken.push(format!("{} names {}", file.display(), target.display()));
            }
        }
    }
    assert!(broken.is_empty(), "the core reaches up or out:\n{}", broken.join("\n"));
    // The checker itself sees what it must: the core's files do import one another.
    let input = graph.get(Path::new("mix/input/source.rs")).expect("mix/input/source.rs");
    assert!(input.contains(Path::new("mix/input/stream.rs")) && input.contains(Path::new("scene/mod.rs")));
    // Nor does it keep a global: files and stems decoded elsewhere are passed in (the browser's included).
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for file in graph.keys().filter(|f| matches!(layer_of(f).as_str(), "files" | "scene" | "mix" | "room")) {
        for line in code_of(&src.join(file)).lines() {
            let line = line.trim_start();
            let global = ["static ", "pub static ", "pub(crate) static "].iter().any(|s| line.starts_with(s))
                || line.contains("thread_local!")
                || line.contains("page_files");
            assert!(!global, "{} keeps a global: {line}", file.display());
            assert!(!line.contains("bevy"), "{} names Bevy: {line}", file.display());
        }
    }
}

#[test]
fn no_two_files_import_each_other_however_long_the_way_round() {
    let graph = imports();
    // Tarjan's strongly connected components: any with more than one file is a circle.
    struct Walk<'a> {
        graph: &'a BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        index: BTreeMap<&'a Path, usize>,
        low: BTreeMap<&'a Path, usize>,
        stack: Vec<&'a Path>,
        circles: Vec<Vec<&'a Path>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, v: &'a Path) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            for w in self.graph.get(v).into_iter().flatten() {
                let w = w.as_path();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.stack.contains(&w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let at = self.stack.iter().position(|x| *x == v).unwrap();
                let component = self.stack.split_off(at);
                if component.len() > 1 {
                    self.circles.push(component);
                }
            }
        }
    }
    let mut walk =
        Walk { graph: &graph, index: BTreeMap::new(), low: BTreeMap::new(), stack: Vec::new(), circles: Vec::new() };
    for file in graph.keys() {
        if !walk.index.contains_key(file.as_path()) {
            walk.visit(file);
        }
    }
    let circles: Vec<String> = walk
        .circles
        .iter()
        .map(|c| c.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" ↔ "))
        .collect();
    assert!(circles.is_empty(), "files that import each other:\n{}", circles.join("\n"));
    assert!(graph.len() > 50, "the checker read the source ({} files)", graph.len());
}
