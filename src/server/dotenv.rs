//! Loads `.env` into the process environment (variables already set win). A malformed file
//! stops start-up with the number of the bad line only: the line's text may hold a secret, and
//! the error goes to stderr and logs.

use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum DotenvError {
    #[error("{file} line {line} is not a valid NAME=value line (for example an unterminated quote); fix or remove it")]
    BadLine { file: String, line: usize },
    #[error("{file} could not be read: {kind}")]
    Unreadable { file: String, kind: std::io::ErrorKind },
}

/// Loads `path` if it exists.
pub fn load(path: &Path) -> Result<(), DotenvError> {
    let file = path.display().to_string();
    match dotenvy::from_path(path) {
        Ok(()) => Ok(()),
        Err(e) if e.not_found() => Ok(()),
        Err(dotenvy::Error::LineParse(logical_line, _)) => {
            let content = std::fs::read_to_string(path).unwrap_or_default();
            Err(DotenvError::BadLine {
                file,
                line: line_number_of(&content, &logical_line),
            })
        }
        Err(dotenvy::Error::Io(io)) => Err(DotenvError::Unreadable { file, kind: io.kind() }),
        Err(_) => Err(DotenvError::BadLine { file, line: 0 }),
    }
}

/// The 1-based number of the physical line where `logical` (possibly several lines, from a
/// quoted value) starts in `content`; 0 when it cannot be found.
fn line_number_of(content: &str, logical: &str) -> usize {
    let first = logical.lines().next().unwrap_or("").trim_end_matches('\r');
    content
        .lines()
        .position(|l| l.trim_end_matches('\r') == first)
        .map_or(0, |i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_line_is_named_by_number_and_its_text_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(
            &path,
            "# comment\nATLAS_DOTENV_TEST_OK=1\nWHOP_API_KEY=\"sk_live_topsecret\nX=2\n",
        )
        .unwrap();
        let e = load(&path).unwrap_err();
        let shown = e.to_string();
        assert!(shown.contains("line 3"), "{shown}");
        assert!(
            !shown.contains("topsecret") && !shown.contains("WHOP_API_KEY"),
            "{shown}"
        );
        assert!(!format!("{e:?}").contains("topsecret"));
    }

    #[test]
    fn a_missing_file_is_fine() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(&dir.path().join(".env")).is_ok());
    }
}
