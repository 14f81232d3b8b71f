//! Embeds the built-in templates (`templates/`) in the binary as `(name, source)` pairs sorted by
//! name, which a loader compiles on first use (compiling all of them up front was a tenth of a
//! function's cold start, for templates most invocations never render).
use std::path::{Path, PathBuf};

fn collect(root: &Path, dir: &Path, found: &mut Vec<(String, PathBuf)>) {
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|entry| entry.path());
    for path in entries {
        if path.is_dir() {
            collect(root, &path, found);
        } else if let Ok(relative) = path.strip_prefix(root) {
            let name = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            found.push((name, path.clone()));
        }
    }
}

fn main() {
    let root =
        Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo")).join("templates");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut found = Vec::new();
    collect(&root, &root, &mut found);
    // By name: the loader looks templates up by binary search.
    found.sort();
    let mut generated = String::from("pub(crate) static BUILTIN_TEMPLATES: &[(&str, &str)] = &[\n");
    for (name, path) in &found {
        println!("cargo:rerun-if-changed={}", path.display());
        generated.push_str(&format!(
            "    ({name:?}, include_str!({:?})),\n",
            path.display().to_string()
        ));
    }
    generated.push_str("];\n");
    let out = Path::new(&std::env::var("OUT_DIR").expect("set by cargo")).join("templates.rs");
    std::fs::write(out, generated).expect("OUT_DIR is writable");
}
