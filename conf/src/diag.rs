//! Positions and diagnostics shared by both front ends.
//!
//! Every error and warning an operator sees names `file:line:col`, the
//! keyword it is about, what was expected, and shows the source line with a
//! caret under the column, like a compiler would.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A position in a config file. Lines and columns count from 1.
///
/// Twelve bytes: every word of a config and every keyword recorded in the
/// model carries one, and a large config has hundreds of thousands.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    /// The file; dereferences to its [`Path`].
    pub file: FileId,
    pub line: u32,
    pub col: u32,
}

impl Location {
    pub fn new(file: Arc<Path>, line: u32, col: u32) -> Self {
        Location::at(FileId::intern(&file), line, col)
    }

    /// A position in a file already interned.
    pub fn at(file: FileId, line: u32, col: u32) -> Self {
        Location { file, line, col }
    }
}

/// A config file's path, as a small number: an index into a process-wide
/// table of the paths positions were recorded in. The same path always
/// gets the same id, so ids compare like the paths. The table only grows:
/// it holds each distinct path once, however often it is read, which is a
/// few paths for a daemon's whole life.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileId(u32);

#[derive(Default)]
struct FileTable {
    ids: std::collections::HashMap<&'static Path, u32>,
    paths: Vec<&'static Path>,
}

fn file_table() -> &'static std::sync::RwLock<FileTable> {
    static TABLE: std::sync::OnceLock<std::sync::RwLock<FileTable>> = std::sync::OnceLock::new();
    TABLE.get_or_init(Default::default)
}

impl FileId {
    /// The id of `path`, adding it to the table the first time.
    pub fn intern(path: &Path) -> FileId {
        let table = file_table();
        {
            let t = table
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(&id) = t.ids.get(path) {
                return FileId(id);
            }
        }
        let mut t = table
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(&id) = t.ids.get(path) {
            return FileId(id);
        }
        // Kept for the life of the process, so positions can lend out
        // `&Path`s without a lock held.
        let stored: &'static Path = Box::leak(Box::<Path>::from(path));
        let id = u32::try_from(t.paths.len()).unwrap_or(u32::MAX);
        t.paths.push(stored);
        t.ids.insert(stored, id);
        FileId(id)
    }

    /// The path this id stands for.
    pub fn path(self) -> &'static Path {
        let t = file_table()
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        t.paths
            .get(self.0 as usize)
            .copied()
            .unwrap_or_else(|| Path::new(""))
    }
}

impl std::ops::Deref for FileId {
    type Target = Path;

    fn deref(&self) -> &Path {
        self.path()
    }
}

impl AsRef<Path> for FileId {
    fn as_ref(&self) -> &Path {
        self.path()
    }
}

impl fmt::Debug for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.path(), f)
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Warning,
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One error or warning about a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Where; `None` only for problems with no place in a file (for example
    /// the top-level file cannot be read).
    pub location: Option<Location>,
    /// The keyword the problem is about, when there is one.
    pub keyword: Option<String>,
    pub message: String,
    /// The source line at `location`, for display.
    pub source_line: Option<String>,
}

impl Diagnostic {
    pub fn error(
        location: Option<Location>,
        keyword: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Error,
            location,
            keyword: keyword.map(str::to_owned),
            message: message.into(),
            source_line: None,
        }
    }

    pub fn warning(
        location: Option<Location>,
        keyword: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(location, keyword, message)
        }
    }

    pub fn with_source_line(mut self, line: Option<String>) -> Self {
        self.source_line = line;
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    /// `file:line:col: error: `keyword`: message`, then the source line and a
    /// caret under the column.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(loc) = &self.location {
            write!(f, "{loc}: ")?;
        }
        write!(f, "{}: ", self.severity)?;
        if let Some(kw) = &self.keyword {
            write!(f, "'{kw}': ")?;
        }
        f.write_str(&self.message)?;
        if let (Some(src), Some(loc)) = (&self.source_line, &self.location) {
            let gutter = loc.line.to_string().len();
            write!(f, "\n {:gutter$} |\n {} | {}", "", loc.line, src)?;
            let caret_col = (loc.col as usize).saturating_sub(1);
            // Tabs stay tabs under the caret so it lines up in a terminal.
            let pad: String = src
                .chars()
                .take(caret_col)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            write!(f, "\n {:gutter$} | {}^", "", pad)?;
        }
        Ok(())
    }
}

/// A list of diagnostics, in the order they were found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.items.extend(other.items);
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter().filter(|d| d.is_error())
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter().filter(|d| !d.is_error())
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.items {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

/// The text of every file read, so diagnostics can show their source line.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

#[derive(Debug, Clone)]
struct SourceFile {
    path: Arc<Path>,
    text: SharedText,
    /// Byte offset of the start of each line: a config with many warnings
    /// must not rescan a 400,000-line file for each one. Built on the
    /// first lookup: a config without diagnostics never needs it.
    line_starts: std::sync::OnceLock<Vec<usize>>,
}

/// A file's text, shared with whoever read it. An `Arc<String>` lets the
/// keepalived.conf reader keep the buffer it read the file into, where an
/// `Arc<str>` would need a copy of a possibly large file.
#[derive(Debug, Clone)]
enum SharedText {
    Str(Arc<str>),
    String(Arc<String>),
}

impl std::ops::Deref for SharedText {
    type Target = str;

    fn deref(&self) -> &str {
        match self {
            SharedText::Str(s) => s,
            SharedText::String(s) => s,
        }
    }
}

impl SourceMap {
    pub fn add(&mut self, path: Arc<Path>, text: Arc<str>) {
        self.push(path, SharedText::Str(text));
    }

    /// [`SourceMap::add`] for text already in an `Arc<String>`.
    pub(crate) fn add_string(&mut self, path: Arc<Path>, text: Arc<String>) {
        self.push(path, SharedText::String(text));
    }

    fn push(&mut self, path: Arc<Path>, text: SharedText) {
        self.files.push(SourceFile {
            path,
            text,
            line_starts: std::sync::OnceLock::new(),
        });
    }

    /// The text of line `loc.line` of `loc.file`, if that file was read.
    pub fn line(&self, loc: &Location) -> Option<String> {
        let f = self.files.iter().find(|f| *f.path == *loc.file)?;
        let k = (loc.line as usize).checked_sub(1)?;
        let starts = f.line_starts.get_or_init(|| {
            std::iter::once(0)
                .chain(f.text.match_indices('\n').map(|(i, _)| i + 1))
                .collect()
        });
        let start = *starts.get(k)?;
        if start > f.text.len() || (start == f.text.len() && k > 0) {
            return None;
        }
        let rest = &f.text[start..];
        let line = rest.split('\n').next().unwrap_or("");
        Some(line.strip_suffix('\r').unwrap_or(line).to_owned())
    }

    pub fn files(&self) -> impl Iterator<Item = &Path> {
        self.files.iter().map(|f| &*f.path)
    }

    /// Fill in `source_line` of a diagnostic from the files read.
    pub fn annotate(&self, d: Diagnostic) -> Diagnostic {
        let line = d.location.as_ref().and_then(|l| self.line(l));
        d.with_source_line(line)
    }
}

/// A path shown in diagnostics for text that did not come from a file.
pub fn inline_path(name: &str) -> Arc<Path> {
    Arc::from(PathBuf::from(name).as_path())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_ids_stand_for_their_paths() {
        let a = FileId::intern(Path::new("/etc/keepalived/a.conf"));
        let b = FileId::intern(Path::new("/etc/keepalived/b.conf"));
        assert_ne!(a, b);
        assert_eq!(a, FileId::intern(Path::new("/etc/keepalived/a.conf")));
        assert_eq!(&*a, Path::new("/etc/keepalived/a.conf"));
        assert_eq!(
            format!("{a:?}"),
            format!("{:?}", Path::new("/etc/keepalived/a.conf"))
        );
        let loc = Location::new(inline_path("/etc/keepalived/b.conf"), 3, 7);
        assert_eq!(loc.file, b);
        assert_eq!(loc.to_string(), "/etc/keepalived/b.conf:3:7");
        assert_eq!(std::mem::size_of::<Location>(), 12);
    }

    #[test]
    fn source_lines_by_index_match_str_lines() {
        let text = "a\nbb\r\n\nlast";
        let mut m = SourceMap::default();
        let p = inline_path("x.conf");
        m.add(p.clone(), Arc::from(text));
        let at = |line| m.line(&Location::new(p.clone(), line, 1));
        let want: Vec<Option<String>> = text.lines().map(|l| Some(l.to_owned())).collect();
        let got: Vec<Option<String>> = (1..=4).map(at).collect();
        assert_eq!(got, want);
        assert_eq!(at(5), None);
        assert_eq!(at(0), None);
        assert_eq!(m.line(&Location::new(inline_path("y"), 1, 1)), None);
        let mut trailing = SourceMap::default();
        trailing.add(p.clone(), Arc::from("one\n"));
        assert_eq!(
            trailing.line(&Location::new(p.clone(), 1, 1)).as_deref(),
            Some("one")
        );
        assert_eq!(trailing.line(&Location::new(p, 2, 1)), None);
    }
}
