use std::fs;

use super::*;

#[test]
fn only_script_and_dependency_changes_matter() {
    let repo = Path::new("/repo");
    let cases = [
        ("/repo/python/a.py", true),
        ("/repo/js/b.mjs", true),
        ("/repo/python/grp/requirements.txt", true),
        ("/repo/js/app/package.json", true),
        ("/repo/python/newfolder", true),
        ("/repo/python", true),
        ("/repo/python/a._map.json", false),
        ("/repo/python/a._map.json.tmp", false),
        ("/repo/python/__pycache__/a.cpython-311.pyc", false),
        ("/repo/js/node_modules/x/index.js", false),
        ("/repo/python/.git/index", false),
        ("/repo/python/notes.md", false),
        ("/repo/README.md", false),
        ("/elsewhere/python/a.py", false),
    ];
    for (path, expected) in cases {
        assert_eq!(is_relevant_path(repo, Path::new(path)), expected, "{path}");
    }
}

#[test]
fn folders_a_scan_never_enters_are_not_watched() {
    let repo = tempfile::tempdir().unwrap();
    for folder in [
        "python/grp/sub",
        "python/node_modules/pkg",
        "python/__pycache__",
        "python/.git/objects",
        "js/app",
        "docs/python",
    ] {
        fs::create_dir_all(repo.path().join(folder)).unwrap();
    }
    std::os::unix::fs::symlink("/usr", repo.path().join("python/linked")).unwrap();
    let mut tree = unwatched_tree(repo.path());
    for name in RUNTIME_FOLDERS {
        tree.add_recursively(&repo.path().join(name));
    }
    let mut watched: Vec<String> = tree
        .folders
        .values()
        .map(|p| p.strip_prefix(repo.path()).unwrap().display().to_string())
        .collect();
    watched.sort();
    assert_eq!(
        watched,
        ["js", "js/app", "python", "python/grp", "python/grp/sub"]
    );
}

fn unwatched_tree(root: &Path) -> Tree {
    Tree {
        root: root.to_path_buf(),
        watches: Inotify::init().unwrap().watches(),
        folders: HashMap::new(),
        out_of_watches: false,
    }
}

/// Whether the watcher sends a message within `within`.
async fn signals(changed: &mut mpsc::Receiver<()>, within: Duration) -> bool {
    tokio::time::timeout(within, changed.recv()).await.is_ok()
}

#[tokio::test]
async fn reports_changes_in_new_folders_and_nothing_for_reads() {
    let repo = tempfile::tempdir().unwrap();
    let python = repo.path().join("python");
    fs::create_dir_all(&python).unwrap();
    fs::write(python.join("hello.py"), "print(1)\n").unwrap();
    let (tx, mut changed) = mpsc::channel(1);
    let _watcher = watch(repo.path(), Duration::from_millis(30), tx).unwrap();
    let quiet = Duration::from_millis(300);
    let soon = Duration::from_secs(5);

    // What every run does to the folder: open and read the script, list the folder.
    for _ in 0..20 {
        fs::read(python.join("hello.py")).unwrap();
        fs::read_dir(&python).unwrap().for_each(drop);
    }
    fs::write(python.join("hello._map.json"), "{}").unwrap();
    assert!(
        !signals(&mut changed, quiet).await,
        "reads and sidecars are no change"
    );

    fs::create_dir(python.join("grp")).unwrap();
    assert!(
        signals(&mut changed, soon).await,
        "a new folder is a change"
    );
    fs::write(python.join("grp/tool.py"), "print(2)\n").unwrap();
    assert!(
        signals(&mut changed, soon).await,
        "a file in a new folder is seen"
    );

    fs::rename(python.join("grp"), python.join("tools")).unwrap();
    assert!(signals(&mut changed, soon).await, "a rename is a change");
    fs::write(python.join("tools/tool.py"), "print(3)\n").unwrap();
    assert!(
        signals(&mut changed, soon).await,
        "the renamed folder is still watched"
    );

    fs::remove_file(python.join("tools/tool.py")).unwrap();
    assert!(signals(&mut changed, soon).await, "a removal is a change");
}

#[tokio::test]
async fn a_burst_of_writes_is_one_message() {
    let repo = tempfile::tempdir().unwrap();
    fs::create_dir_all(repo.path().join("js")).unwrap();
    let (tx, mut changed) = mpsc::channel(8);
    let _watcher = watch(repo.path(), Duration::from_millis(100), tx).unwrap();
    for i in 0..10 {
        fs::write(repo.path().join(format!("js/s{i}.js")), "1").unwrap();
    }
    assert!(signals(&mut changed, Duration::from_secs(5)).await);
    assert!(!signals(&mut changed, Duration::from_millis(400)).await);
}

#[tokio::test]
async fn a_runtime_folder_created_later_is_watched() {
    let repo = tempfile::tempdir().unwrap();
    let (tx, mut changed) = mpsc::channel(1);
    let _watcher = watch(repo.path(), Duration::from_millis(30), tx).unwrap();
    fs::create_dir(repo.path().join("docs")).unwrap();
    assert!(!signals(&mut changed, Duration::from_millis(300)).await);
    fs::create_dir(repo.path().join("python")).unwrap();
    assert!(signals(&mut changed, Duration::from_secs(5)).await);
    fs::write(repo.path().join("python/a.py"), "1").unwrap();
    assert!(signals(&mut changed, Duration::from_secs(5)).await);
}

#[test]
fn a_tree_as_deep_as_paths_allow_is_watched_without_recursion() {
    let repo = tempfile::tempdir().unwrap();
    let mut deep = repo.path().join("python");
    for _ in 0..1500 {
        deep.push("d");
    }
    fs::create_dir_all(&deep).unwrap();
    let mut tree = unwatched_tree(repo.path());
    tree.add_recursively(&repo.path().join("python"));
    assert_eq!(tree.folders.len(), 1501);
}
