//! The whole session lifecycle in one run, against the real provider and two workers
//! (README "Session lifecycle"): a login, a refresh that brings new groups, the user
//! disabled at the provider and the session ended (`refresh_failed`, then `revoked`); a new
//! login, a logout at the provider, its back-channel logout received, and that session
//! refused on every worker and after a restart that reads the state file.

use std::thread;
use std::time::Duration;

use serde_json::json;

use crate::harness::http::http_request;
use crate::harness::site::{CLIENT_ID, SECRET};
use crate::harness::{scaled, temp_dir, Build, Upstream};
use crate::on_both_nginx;
use crate::provider::{client, config, demo_user, Provider, ANY_CALLBACK};
use crate::revocation::{
    assert_revoked, assert_session, copy_of, login, logout_at_provider, on_every_worker, page,
    register_backchannel, sid_of, start_nginx, writable_by_workers, DEMO_SUB,
};

fn past_refresh_time() {
    thread::sleep(scaled(Duration::from_millis(1300)));
}

fn disable(p: &Provider, disabled: bool) {
    let r = http_request(
        "POST",
        &p.url("/_test/disable"),
        &[("Content-Type", "application/json")],
        json!({ "sub": DEMO_SUB, "disabled": disabled })
            .to_string()
            .as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
}

fn whole_lifecycle(build: Build) {
    let state_dir = temp_dir("lifecycle-state");
    std::fs::create_dir_all(&state_dir).unwrap();
    writable_by_workers(&state_dir);
    let state = state_dir.join("revocations.state");
    let http = format!(
        "sso_shared_zone zone=sso:1m state={};\n    sso_session_refresh 1s;",
        state.display()
    );
    let mut c = config(
        vec![client(CLIENT_ID, SECRET, ANY_CALLBACK)],
        vec![demo_user()],
    );
    c["refresh_tokens"] = json!("always");
    let provider = Provider::start(c);
    let up = Upstream::start();
    let n = start_nginx(build, &provider, &up, &http, 2);
    register_backchannel(&provider, &n);

    // 1. login; a refresh brings the new groups to the upstream
    let mut jar = login(&n);
    let r = page(&mut jar, &n);
    assert_session(&r, "after login");
    assert_eq!(r.upstream().values("x-authentik-groups"), ["admins|users"]);
    let mut user = demo_user();
    user["groups"] = json!(["admins", "users", "auditors"]);
    provider.upsert_user(user);
    past_refresh_time();
    let r = page(&mut jar, &n);
    assert_session(&r, "refreshed");
    assert_eq!(
        r.upstream().values("x-authentik-groups"),
        ["admins|users|auditors"],
        "{}",
        n.error_log()
    );
    assert_eq!(provider.stats()["refresh_grants"], 1);

    // 2. the user is disabled: the next refresh is refused and ends the session
    disable(&provider, true);
    past_refresh_time();
    let r = page(&mut jar, &n);
    assert_eq!(r.status, 302, "{}\n{}", r.head(), n.error_log());
    assert_eq!(r.header("X-Reason"), Some("refresh_failed"));
    assert_revoked(&mut jar, &n, 2);
    disable(&provider, false);

    // 3. a new login; the user signs out at the provider, which posts the back-channel
    // logout: the session (and a copy of its cookie) is refused on every worker
    let mut jar = login(&n);
    on_every_worker(2, || page(&mut jar, &n), |r| assert_session(r, "new login"));
    sid_of(&mut jar, &n);
    let mut copy = copy_of(&jar);
    logout_at_provider(&provider);
    let logouts = provider.stats()["backchannel_logouts"].clone();
    let sent = logouts.as_array().unwrap();
    assert!(
        sent.iter()
            .any(|l| l["status"] == 200 && l["url"].as_str().unwrap().contains(&n.port.to_string())),
        "the provider's back-channel POST reached this nginx: {logouts}"
    );
    assert_revoked(&mut jar, &n, 2);
    assert_revoked(&mut copy, &n, 2);

    // 4. after a restart (the state file), still refused; a new login works
    let mut n = n;
    n.stop();
    let n2 = start_nginx(build, &provider, &up, &http, 2);
    assert!(
        n2.error_log().contains("revocations restored from"),
        "{}",
        n2.error_log()
    );
    assert_revoked(&mut copy, &n2, 2);
    let mut fresh = login(&n2);
    on_every_worker(
        2,
        || page(&mut fresh, &n2),
        |r| assert_session(r, "a login after the restart"),
    );
    n2.assert_no_crash();
    let _ = std::fs::remove_dir_all(&state_dir);
}

on_both_nginx!(whole_lifecycle);
