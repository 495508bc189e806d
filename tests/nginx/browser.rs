//! A person's login in a real browser: Debian's headless Chromium, driven by
//! `tests/browser/login.mjs` (playwright-core), signs in through nginx + the module + the
//! real test provider by typing into the provider's form and clicking, lands on the app, signs
//! out through the provider's confirmation page, and sees the login form again.
//!
//! Needs `scripts/browser-deps` (Debian's `chromium`, `npm ci` in tests/browser) besides
//! `scripts/provider-deps`; `make test` runs both. Missing, the test fails saying so.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::site::{url, Site};
use crate::harness::{hang_limit, repo_root, temp_dir, Build};
use crate::on_both_nginx;

const CHROMIUM: &str = "/usr/bin/chromium";

fn require_browser() {
    let modules = repo_root().join("tests/browser/node_modules/playwright-core");
    for p in [Path::new(CHROMIUM), modules.as_path()] {
        assert!(
            p.exists(),
            "{} is missing: run `scripts/browser-deps` (or `make test`); it installs Debian's \
             chromium and runs `npm ci` in tests/browser",
            p.display()
        );
    }
}

fn chromium_login(build: Build) {
    require_browser();
    let site = Site::new(build)
        .sso("sso_post_logout_redirect_uri /;")
        .start();
    let (provider, n) = (&site.provider, &site.n);

    let dir = temp_dir(&format!("chromium-{build:?}"));
    let shot = dir.join("signed-in.png");
    let started = Instant::now();
    let mut child = Command::new("node")
        .arg(repo_root().join("tests/browser/login.mjs"))
        .arg(url(n, "/app"))
        .arg("demo")
        .arg("demo")
        .arg(&shot)
        .current_dir(repo_root().join("tests/browser"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `node` ({e}): run scripts/provider-deps"));
    let mut stderr = child.stderr.take().unwrap();
    let reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    // The script's exit is its signal: login.mjs gives up by itself after 150 s (and says
    // at which step); the harness's hang limit is the backstop if node itself hangs.
    let backstop = hang_limit();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > backstop {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(100));
    };
    let log = reader.join().unwrap();
    let took = started.elapsed();
    match status {
        Some(s) if s.success() => {}
        other => panic!(
            "Chromium login {} after {took:?} (screenshots kept in {}); login.mjs said:\n{log}\n--- nginx error.log:\n{}\n--- provider log:\n{}",
            match other {
                Some(s) => format!("failed ({s})"),
                None => "timed out".to_owned(),
            },
            dir.display(),
            n.error_log(),
            provider.log()
        ),
    }
    eprintln!("{build:?}: Chromium login and logout took {took:?}");
    let png = std::fs::read(&shot).expect("the signed-in screenshot");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 1000,
        "{} is not a real PNG",
        shot.display()
    );
    n.assert_no_crash();
    // SSO_KEEP_SCREENSHOT=1 keeps it to look at.
    if std::env::var_os("SSO_KEEP_SCREENSHOT").is_some() {
        eprintln!("{build:?}: signed-in screenshot: {}", shot.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

on_both_nginx!(chromium_login);
