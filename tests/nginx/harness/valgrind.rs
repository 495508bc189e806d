//! valgrind memcheck around nginx: the command line, and reading its text report.

use std::path::Path;

use super::repo_root;

/// memcheck's exit code when it found something (`--error-exitcode`).
pub const VALGRIND_ERROR_EXIT: i32 = 99;

/// The valgrind command line before nginx's: memcheck, full leak check reporting only
/// definitely lost blocks, deep stacks, our suppressions (tests/valgrind/nginx.supp), a
/// ready-made suppression after each finding. `SSO_TEST_VALGRIND_ARGS` adds options
/// (space-separated), e.g. `--track-origins=yes`.
pub(super) fn valgrind_args(log: &Path) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = [
        "--tool=memcheck".to_owned(),
        format!("--error-exitcode={VALGRIND_ERROR_EXIT}"),
        "--leak-check=full".to_owned(),
        "--show-leak-kinds=definite".to_owned(),
        "--errors-for-leak-kinds=definite".to_owned(),
        "--num-callers=50".to_owned(),
        "--gen-suppressions=all".to_owned(),
        format!(
            "--suppressions={}",
            repo_root().join("tests/valgrind/nginx.supp").display()
        ),
    ]
    .into_iter()
    .map(Into::into)
    .collect();
    if let Ok(extra) = std::env::var("SSO_TEST_VALGRIND_ARGS") {
        args.extend(extra.split_whitespace().map(Into::into));
    }
    let mut log_arg = std::ffi::OsString::from("--log-file=");
    log_arg.push(log);
    args.push(log_arg);
    args
}

/// One message of the report: its lines without the `==PID== ` prefix, and the
/// suppression valgrind generated for it, if any.
#[derive(Debug, Clone)]
pub struct Block {
    pub lines: Vec<String>,
    pub suppression: String,
}

#[derive(Debug, PartialEq, Eq)]
enum Kind {
    /// Invalid read/write/free, uninitialised value, overlap, ...
    Error,
    DefiniteLeak,
    Terminated,
    Other,
}

impl Block {
    /// The message's first line ("Thread N:" lines skipped).
    pub fn header(&self) -> &str {
        self.lines
            .iter()
            .map(String::as_str)
            .find(|l| !(l.starts_with("Thread ") && l.ends_with(':')))
            .unwrap_or("")
    }

    fn kind(&self) -> Kind {
        let h = self.header();
        if h.contains("are definitely lost in loss record") {
            Kind::DefiniteLeak
        } else if h.starts_with("Process terminating") {
            Kind::Terminated
        } else if h.starts_with("Invalid ")
            || h.starts_with("Mismatched free")
            || h.contains("uninitialised")
            || h.starts_with("Source and destination overlap")
            || h.starts_with("Jump to the invalid address")
            || h.contains("fishy")
            || h.starts_with("Argument '")
        {
            Kind::Error
        } else {
            Kind::Other
        }
    }

    /// Whether a stack frame of the message is the module's code (the glue crate, the
    /// core crate, or the module's shared object when it has no symbols).
    pub fn in_module(&self) -> bool {
        self.lines.iter().any(|l| {
            let l = l.trim_start();
            (l.starts_with("at ") || l.starts_with("by "))
                && (l.contains("ngx_http_sso_module") || l.contains("sso_core"))
        })
    }

    fn render(&self) -> String {
        let mut s = self.lines.join("\n");
        if !self.suppression.is_empty() {
            s.push_str("\n(suppression, if this is not the module's:)\n");
            s.push_str(&self.suppression);
        }
        s
    }
}

pub struct Report {
    pub text: String,
    pub blocks: Vec<Block>,
}

impl Report {
    pub fn read(path: &Path) -> Report {
        Report::parse(&std::fs::read_to_string(path).unwrap_or_default())
    }

    pub fn parse(text: &str) -> Report {
        let mut blocks = Vec::new();
        let mut cur: Option<Block> = None;
        let mut in_supp = false;
        for line in text.lines() {
            let body = line
                .strip_prefix("==")
                .and_then(|r| r.split_once("== "))
                .filter(|(pid, _)| pid.chars().all(|c| c.is_ascii_digit()))
                .map(|(_, b)| b);
            match body {
                Some(b) => {
                    in_supp = false;
                    if b.trim().is_empty() {
                        if let Some(c) = cur.take() {
                            blocks.push(c);
                        }
                    } else {
                        cur.get_or_insert_with(|| Block {
                            lines: Vec::new(),
                            suppression: String::new(),
                        })
                        .lines
                        .push(b.trim_end().to_owned());
                    }
                }
                None => {
                    // --gen-suppressions text follows the message it belongs to.
                    if line.starts_with('{') {
                        in_supp = true;
                    }
                    if in_supp {
                        if let Some(last) = cur.as_mut().or(blocks.last_mut()) {
                            last.suppression.push_str(line);
                            last.suppression.push('\n');
                        }
                    }
                    if line.starts_with('}') {
                        in_supp = false;
                    }
                }
            }
        }
        if let Some(c) = cur.take() {
            blocks.push(c);
        }
        Report {
            text: text.to_owned(),
            blocks,
        }
    }

    /// What fails a test: every memory error (invalid read/write/free, uninitialised
    /// value, ...) that no suppression covers, and, with `at_exit`, every definitely
    /// lost block allocated by the module's code.
    pub fn module_findings(&self, at_exit: bool) -> Vec<Block> {
        self.blocks
            .iter()
            .filter(|b| match b.kind() {
                Kind::Error => true,
                Kind::DefiniteLeak => at_exit && b.in_module(),
                _ => false,
            })
            .cloned()
            .collect()
    }

    /// Definitely lost blocks with no module frame (nginx's own or a library's).
    pub fn other_leaks(&self) -> Vec<String> {
        self.blocks
            .iter()
            .filter(|b| b.kind() == Kind::DefiniteLeak && !b.in_module())
            .map(Block::render)
            .collect()
    }

    /// The fatal signal, when memcheck saw the process die of one.
    pub fn terminated(&self) -> Option<String> {
        self.blocks
            .iter()
            .find(|b| b.kind() == Kind::Terminated)
            .map(Block::render)
    }

    /// What fails a test once `what` (nginx, `nginx -t`) exited: a fatal signal, the
    /// [`Report::module_findings`] at exit, messages this parser does not know.
    pub fn problems_at_exit(&self, what: &str) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(exit) = self.terminated() {
            problems.push(format!("{what} died under valgrind: {exit}"));
        }
        let findings = self.module_findings(true);
        if !findings.is_empty() {
            problems.push(render(&findings));
        }
        if let Some(missing) = self.unaccounted() {
            problems.push(missing);
        }
        problems
    }

    /// Whether memcheck's own count ("ERROR SUMMARY: n errors from m contexts") has
    /// more contexts than the messages parsed here: then the report has a kind of
    /// message this parser does not know, and a person must read it.
    pub fn unaccounted(&self) -> Option<String> {
        let summary = self
            .blocks
            .iter()
            .flat_map(|b| b.lines.iter())
            .find_map(|l| l.strip_prefix("ERROR SUMMARY: "))?;
        let contexts: usize = summary
            .split(" from ")
            .nth(1)?
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        let parsed = self
            .blocks
            .iter()
            .filter(|b| matches!(b.kind(), Kind::Error | Kind::DefiniteLeak))
            .count();
        (contexts > parsed).then(|| {
            format!(
                "memcheck reports {contexts} error contexts, the harness recognised \
                 {parsed}; the whole report:\n{}",
                self.text
            )
        })
    }
}

pub fn render(blocks: &[Block]) -> String {
    blocks
        .iter()
        .map(Block::render)
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// With `SSO_TEST_VALGRIND_LOGS=DIR`, copies the report to DIR (named after the
/// instance directory) so a whole run's reports outlive the instances.
pub fn keep_copy(log: &Path, instance_dir: &Path) {
    let Some(dest) = std::env::var_os("SSO_TEST_VALGRIND_LOGS") else {
        return;
    };
    let dest = Path::new(&dest);
    let _ = std::fs::create_dir_all(dest);
    let name = format!(
        "{}.log",
        instance_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "nginx".into())
    );
    let _ = std::fs::copy(log, dest.join(name));
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "==7== Memcheck, a memory error detector
==7== 
==7== Thread 2:
==7== Invalid read of size 4
==7==    at 0x1: ngx_http_sso_module::access::handler (access.rs:1)
==7==    by 0x2: main (nginx.c:1)
==7== 
{
   <insert_a_suppression_name_here>
   Memcheck:Addr4
   fun:_ZN3ngx
}
==7== 8 bytes in 1 blocks are definitely lost in loss record 1 of 2
==7==    at 0x3: malloc (vg_replace_malloc.c:1)
==7==    by 0x4: ngx_set_environment (nginx.c:591)
==7== 
==7== 16 bytes in 1 blocks are definitely lost in loss record 2 of 2
==7==    at 0x3: malloc (vg_replace_malloc.c:1)
==7==    by 0x5: sso_core::cache::Cache::new (cache.rs:9)
==7== 
==7== ERROR SUMMARY: 3 errors from 3 contexts (suppressed: 0 from 0)
";

    #[test]
    fn a_report_is_read_into_findings() {
        let r = Report::parse(LOG);
        let f = r.module_findings(true);
        assert_eq!(f.len(), 2, "{f:#?}");
        assert_eq!(f[0].header(), "Invalid read of size 4");
        assert!(f[0].suppression.contains("Memcheck:Addr4"));
        assert!(f[1].header().starts_with("16 bytes"));
        assert_eq!(r.module_findings(false).len(), 1);
        assert_eq!(r.other_leaks().len(), 1);
        assert!(r.unaccounted().is_none());
        assert!(r.terminated().is_none());
        let more = LOG.replace("3 errors from 3 contexts", "4 errors from 4 contexts");
        assert!(Report::parse(&more).unaccounted().is_some());
    }
}
