//! The documentation stays true: every page under `docs/` has its Rust snippets compiled
//! as doctests (listed in `src/lib.rs`), and no code block is left unlabelled (rustdoc
//! would compile an unlabelled block as Rust).

#[test]
fn every_docs_page_is_compiled_as_doctests() {
    let lib = std::fs::read_to_string("src/lib.rs").unwrap();
    let mut pages = 0;
    for entry in std::fs::read_dir("docs").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                lib.contains(&format!("include_str!(\"../docs/{name}\")")),
                "docs/{name} is not included as doctests in src/lib.rs"
            );
            pages += 1;
        }
    }
    assert!(pages >= 10, "{pages} pages");
}

#[test]
fn every_code_block_says_its_language() {
    for path in ["README.md", "scenarios/README.md"]
        .map(std::path::PathBuf::from)
        .into_iter()
        .chain(
            std::fs::read_dir("docs")
                .unwrap()
                .map(|e| e.unwrap().path()),
        )
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
    {
        let text = std::fs::read_to_string(&path).unwrap();
        let mut open = false;
        for (i, line) in text.lines().enumerate() {
            let fence = line.trim_start();
            if !fence.starts_with("```") {
                continue;
            }
            if !open {
                assert!(
                    fence.len() > 3,
                    "{}:{}: a code block without a language",
                    path.display(),
                    i + 1
                );
            }
            open = !open;
        }
        assert!(!open, "{}: a code block is not closed", path.display());
    }
}
