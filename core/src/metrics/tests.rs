use super::*;

fn status(counters: &Counters) -> Status {
    Status {
        counts: counters.read(),
        revocations: 3,
        providers: vec![ProviderStatus {
            provider: "https://idp.example.com/app/\"x\"".to_owned(),
            discovery_age: Some(12),
            jwks_age: None,
            last_error: Some("jwks: connection refused".to_owned()),
        }],
    }
}

/// The sample line of `name` with exactly these labels, as rendered.
fn sample(text: &str, series: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn every_reason_word_has_its_own_slot() {
    // Every $sso_reason of a refusal: the token errors' and the glue's own words.
    let token_errors = crate::jwt::tests::one_of_each();
    let mut refused: Vec<&str> = token_errors.iter().map(|e| e.reason()).collect();
    refused.sort_unstable();
    refused.dedup();
    refused.extend(["no_credentials", "idle", "revoked", "refresh_failed"]);
    let mut seen = std::collections::HashSet::new();
    for r in refused {
        for nav in [true, false] {
            let s = slot(r, || nav);
            assert_ne!(SLOTS[s].1, "other", "{r}");
            assert_eq!(SLOTS[s].1, r);
            assert_eq!(
                DECISIONS[SLOTS[s].0],
                if nav { "login" } else { "unauthorized" }
            );
            assert!(seen.insert(s), "{r} shares a slot");
        }
    }
    for (r, d) in [
        ("unauthenticated_path", "unauthenticated"),
        ("forbidden_group", "forbidden"),
        ("forbidden_claim", "forbidden"),
        ("session", "allow"),
        ("bearer", "allow"),
        ("token_cookie", "allow"),
    ] {
        let s = slot(r, || panic!("asked for {r}"));
        assert_eq!((DECISIONS[SLOTS[s].0], SLOTS[s].1), (d, r));
        assert!(seen.insert(s), "{r} shares a slot");
    }
    for m in [
        AuthMethod::Session,
        AuthMethod::Bearer,
        AuthMethod::TokenCookie,
    ] {
        assert_eq!(allow_slot(m), slot(m.as_str(), || false));
    }
    // An unknown word is `other`, never a new series.
    assert_eq!(
        SLOTS[slot("something_new", || false)],
        (UNAUTHORIZED, "other")
    );
    assert_eq!(
        SLOTS[slot("forbidden_something", || false)],
        (FORBIDDEN, "other")
    );
}

#[test]
fn token_and_logout_reasons_are_listed() {
    let token_errors = crate::jwt::tests::one_of_each();
    for e in token_errors {
        assert_ne!(SLOTS[slot(e.reason(), || false)].1, "other", "{e:?}");
        assert_ne!(
            LOGOUT_REFUSALS[index_of(&LOGOUT_REFUSALS, e.reason())],
            "other"
        );
    }
    use crate::flow::FlowError;
    for e in [
        FlowError::NoFlowCookie,
        FlowError::StateMismatch,
        FlowError::AlreadyUsed,
        FlowError::FlowExpired,
        FlowError::IssuerMismatch,
        FlowError::Internal("x"),
    ] {
        assert_ne!(
            LOGIN_FAILURES[index_of(&LOGIN_FAILURES, e.reason())],
            "other"
        );
    }
}

#[test]
fn worker_sets_are_summed_and_events_counted() {
    let c = Counters::new();
    let s = slot("expired", || true);
    c.request(0, s);
    c.request(1, s);
    c.request(WORKER_SETS + 1, s); // shares set 1: still counted
    c.request(3, allow_slot(AuthMethod::Bearer));
    c.event(Event::LoginStarted);
    c.event(Event::LoginFailed("replayed"));
    c.event(Event::LoginFailed("whatever"));
    c.event(Event::LogoutRefused("bad_signature"));
    c.event(Event::RefreshFailed("refused"));
    c.caches[1].hits.fetch_add(5, Relaxed);
    c.caches[1].entries.fetch_add(2, Relaxed);
    c.caches[1].entries.fetch_add((-1i64) as u64, Relaxed);
    let n = c.read();
    assert_eq!(n.requests[s], 3);
    assert_eq!(n.requests[allow_slot(AuthMethod::Bearer)], 1);
    assert_eq!(n.requests.iter().sum::<u64>(), 4);
    assert_eq!(n.logins_started, 1);
    assert_eq!(n.logins_failed[index_of(&LOGIN_FAILURES, "replayed")], 1);
    assert_eq!(n.logins_failed[LOGIN_FAILURES.len() - 1], 1);
    assert_eq!(
        n.caches[1],
        CacheCount {
            hits: 5,
            misses: 0,
            entries: 1
        }
    );
    // The worker sets are cache-line separated; the table and the zone's root fit one
    // 4 KiB page (the glue allocates them together: a 64k zone has no other page to spare).
    assert_eq!(std::mem::size_of::<WorkerSet>() % 64, 0);
    assert!(
        std::mem::size_of::<Counters>() <= 3584,
        "{}",
        std::mem::size_of::<Counters>()
    );
}

#[test]
fn prometheus_text_follows_the_format() {
    let c = Counters::new();
    c.request(0, slot("expired", || false));
    c.request(0, slot("expired", || false));
    c.event(Event::LogoutAccepted);
    let text = status(&c).prometheus();
    assert_eq!(
        sample(
            &text,
            "sso_requests_total{decision=\"unauthorized\",reason=\"expired\"}"
        ),
        Some(2)
    );
    assert_eq!(
        sample(
            &text,
            "sso_requests_total{decision=\"login\",reason=\"expired\"}"
        ),
        Some(0)
    );
    assert_eq!(
        sample(&text, "sso_backchannel_logouts_accepted_total"),
        Some(1)
    );
    assert_eq!(sample(&text, "sso_revocations"), Some(3));
    // Label values are escaped; a missing age is no sample.
    assert_eq!(
        sample(
            &text,
            "sso_provider_discovery_age_seconds{provider=\"https://idp.example.com/app/\\\"x\\\"\"}"
        ),
        Some(12)
    );
    assert!(!text.contains("sso_provider_jwks_age_seconds{"));
    assert_eq!(
        sample(
            &text,
            "sso_provider_fetch_failing{provider=\"https://idp.example.com/app/\\\"x\\\"\"}"
        ),
        Some(1)
    );
    // Each family: HELP then TYPE before its samples; counters end in _total; every sample
    // name starts with sso_.
    let mut family = "";
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            family = rest.split(' ').next().unwrap();
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert_eq!(name, family);
            assert_eq!(kind == "counter", name.ends_with("_total"), "{name}");
            continue;
        }
        assert!(
            line.starts_with(family),
            "{line} outside its family {family}"
        );
        assert!(line.starts_with("sso_"));
    }
    assert!(text.ends_with('\n'));
}

#[test]
fn json_carries_the_same_numbers() {
    let c = Counters::new();
    c.request(1, slot("revoked", || true));
    c.event(Event::Refreshed);
    c.event(Event::LogoutRefused("replayed"));
    let v: serde_json::Value = serde_json::from_str(&status(&c).json()).unwrap();
    let revoked = v["requests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["decision"] == "login" && e["reason"] == "revoked")
        .unwrap();
    assert_eq!(revoked["count"], 1);
    assert_eq!(v["refreshes"]["done"], 1);
    assert_eq!(v["backchannel_logouts"]["refused"]["replayed"], 1);
    assert_eq!(v["revocations"], 3);
    assert_eq!(v["providers"][0]["last_error"], "jwks: connection refused");
    assert_eq!(
        v["providers"][0]["jwks_age_seconds"],
        serde_json::Value::Null
    );
    assert_eq!(v["caches"]["session"]["hits"], 0);
}

#[test]
fn json_is_asked_for_by_media_range() {
    assert!(wants_json(Some(b"application/json")));
    assert!(wants_json(Some(b"text/html, Application/JSON;q=0.9")));
    // What Prometheus sends.
    assert!(!wants_json(Some(
        b"application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1"
    )));
    assert!(!wants_json(Some(b"application/jsonx")));
    assert!(!wants_json(None));
}
