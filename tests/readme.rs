//! The README's path for a new user works verbatim: every shell block from "From a failing
//! seed to a pinned regression" on — replay, shrink and pin, replay the pin, check the
//! history, write and run a scenario — run as written, in a folder laid out as the
//! repository is (its scenarios, and the binary at `target/release/faultline`), each ending
//! with the exit code its `# exits N` comment states.

use std::path::Path;
use std::process::Command;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// The `sh` blocks of the README from `from` (a heading) to `to`, with the exit code each
/// states in its last `# exits N` comment.
fn shell_blocks(readme: &str, from: &str, to: &str) -> Vec<(String, i32)> {
    let start = readme.find(from).expect("the section is in the README");
    let end = readme[start..].find(to).map_or(readme.len(), |i| start + i);
    let mut blocks = Vec::new();
    let mut rest = &readme[start..end];
    while let Some(open) = rest.find("```sh\n") {
        let body = &rest[open + 6..];
        let close = body.find("\n```").expect("a closed block");
        let block = &body[..close];
        let code = block
            .lines()
            .filter_map(|l| {
                l.split_once("# exits ")
                    .map(|(_, n)| n.trim().parse::<i32>().unwrap())
            })
            .next_back()
            .unwrap_or_else(|| panic!("a block without `# exits N`:\n{block}"));
        blocks.push((block.to_string(), code));
        rest = &body[close + 4..];
    }
    blocks
}

#[test]
fn the_readme_path_works_verbatim() {
    let readme = std::fs::read_to_string("README.md").unwrap();
    let blocks = shell_blocks(&readme, "## From a failing seed", "## Where to read on");
    assert!(blocks.len() >= 5, "{} blocks", blocks.len());
    let home = std::env::temp_dir().join(format!("faultline-readme-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    copy_dir(Path::new("scenarios"), &home.join("scenarios"));
    std::fs::create_dir_all(home.join("target/release")).unwrap();
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_faultline"),
        home.join("target/release/faultline"),
    )
    .unwrap();
    for (block, code) in blocks {
        let out = Command::new("sh")
            .arg("-c")
            .arg(&block)
            .current_dir(&home)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(code),
            "{block}\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The pin written is the one the repository holds.
    let name = "scenarios/regressions/es_cluster-bug-stale-leader-seed27.toml";
    assert_eq!(
        std::fs::read_to_string(home.join(name)).unwrap(),
        std::fs::read_to_string(name).unwrap(),
        "the shrink of the README writes the pin the repository holds"
    );
    let _ = std::fs::remove_dir_all(&home);
}
