//! The Docker image builds from a trimmed context: every folder the binary embeds at compile
//! time (`include_dir!`, `include_str!`, `include_bytes!` outside test files) must be copied
//! into the build stage.

use std::path::Path;

/// Top-level folders that code under `src/` embeds (test files left out).
fn embedded_folders(root: &Path) -> Vec<String> {
    let mut folders = Vec::new();
    let mut pending = vec![root.join("src")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            // Test modules live in their own `tests.rs` files or `tests/` folders.
            if path.file_name().is_some_and(|n| n == "tests.rs")
                || path.components().any(|c| c.as_os_str() == "tests")
            {
                continue;
            }
            let code = std::fs::read_to_string(&path).unwrap_or_default();
            for (marker, relative_to_file) in [
                ("include_dir!(\"$CARGO_MANIFEST_DIR/", false),
                ("include_str!(\"", true),
                ("include_bytes!(\"", true),
            ] {
                for rest in code.split(marker).skip(1) {
                    let target = rest.split('"').next().unwrap_or_default();
                    let absolute = if relative_to_file {
                        path.parent().unwrap().join(target)
                    } else {
                        root.join(target)
                    };
                    let Ok(inside) = absolute.canonicalize() else {
                        continue;
                    };
                    let Ok(relative) = inside.strip_prefix(root.canonicalize().unwrap()) else {
                        continue;
                    };
                    let top = relative.components().next().unwrap();
                    let top = top.as_os_str().to_string_lossy().into_owned();
                    if top != "src" && !folders.contains(&top) {
                        folders.push(top);
                    }
                }
            }
        }
    }
    folders.sort();
    folders
}

#[test]
fn the_image_build_copies_every_folder_the_binary_embeds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    let ignored = std::fs::read_to_string(root.join(".dockerignore")).unwrap();
    let folders = embedded_folders(root);
    for expected in ["compat", "migrations", "static", "templates"] {
        assert!(folders.contains(&expected.to_string()), "{folders:?}");
    }
    for folder in &folders {
        assert!(
            dockerfile.contains(&format!("COPY {folder} {folder}")),
            "the Dockerfile's build stage must COPY {folder}/ (the binary embeds it)"
        );
        let excluded = ignored
            .lines()
            .map(str::trim)
            .any(|line| line == folder || line == format!("{folder}/"));
        assert!(
            !excluded,
            ".dockerignore leaves out {folder}/, which the build needs"
        );
    }
}
