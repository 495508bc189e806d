use super::*;
use crate::identity::Identity;
use crate::session::{RefreshToken, Session, SessionKeys, CHUNK_LEN};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

fn keys() -> SessionKeys {
    SessionKeys::parse(b"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f").unwrap()
}

const REQ: AuthRequest<'static> = AuthRequest {
    authorization_endpoint: "https://auth.example.com/application/o/authorize/",
    client_id: "my-client",
    redirect_uri: "https://app.example.com/outpost.goauthentik.io/callback",
    scope: "openid profile email",
};

#[test]
fn flow_cookie_cap_keeps_the_newest() {
    let k = keys();
    // ten flows started one second apart, in shuffled header order
    let starts: Vec<FlowStart> = (0..10)
        .map(|i| start(&k, "my-client", &REQ, "/", 1000 + i).unwrap())
        .collect();
    let order = [3usize, 9, 0, 7, 1, 8, 2, 6, 4, 5];
    let mut header = String::from("other=1; sso_session=abc");
    for &i in &order {
        header.push_str(&format!(
            "; {}={}",
            starts[i].cookie_name, starts[i].cookie_value
        ));
    }
    header.push_str("; sso_flow_junkjunk=notsealed; sso_flow_=x");
    let pairs: Vec<(&[u8], &[u8])> = flow_cookies(header.as_bytes()).collect();
    assert_eq!(pairs.len(), 12, "only sso_flow_* cookies");
    let doomed = flow_cookies_to_expire(&k, "my-client", &pairs, 1020);
    let kept: Vec<usize> = (0..10)
        .filter(|&i| !doomed.contains(&starts[i].cookie_name))
        .collect();
    assert_eq!(kept, [7, 8, 9], "the newest MAX-1 stay: {doomed:?}");
    assert!(doomed.contains(&"sso_flow_junkjunk".to_owned()));
    assert!(doomed.contains(&"sso_flow_".to_owned()));
    assert_eq!(doomed.len(), 9);
    // expired flows go even when few; another app's flows do not open here
    let pairs: Vec<(&[u8], &[u8])> = vec![(
        starts[0].cookie_name.as_bytes(),
        starts[0].cookie_value.as_bytes(),
    )];
    assert!(flow_cookies_to_expire(&k, "my-client", &pairs, 1000).is_empty());
    assert_eq!(
        flow_cookies_to_expire(&k, "my-client", &pairs, 1000 + FLOW_LIFETIME_SECS),
        [starts[0].cookie_name.clone()]
    );
    assert_eq!(
        flow_cookies_to_expire(&k, "other-app", &pairs, 1000).len(),
        1
    );
    // nothing to do with MAX-1 or fewer live flows
    let few: Vec<(&[u8], &[u8])> = starts[..MAX_FLOW_COOKIES - 1]
        .iter()
        .map(|s| (s.cookie_name.as_bytes(), s.cookie_value.as_bytes()))
        .collect();
    assert!(flow_cookies_to_expire(&k, "my-client", &few, 1005).is_empty());
    // names with odd bytes are never echoed back into Set-Cookie
    let odd: Vec<(&[u8], &[u8])> = vec![(b"sso_flow_a\r\nX", b"v")];
    assert!(flow_cookies_to_expire(&k, "my-client", &odd, 1005).is_empty());
}

#[test]
fn pkce_rfc7636_appendix_b() {
    assert_eq!(
        code_challenge_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
}

#[test]
fn start_produces_cookie_and_url() {
    let k = keys();
    let s = start(&k, "my-client", &REQ, "/after?x=1", 1000).unwrap();
    let f = &s.flow;
    assert!(f.state.len() >= 22 && f.nonce.len() >= 22);
    assert!((43..=128).contains(&f.code_verifier.len()));
    assert!(f
        .code_verifier
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)));
    assert_ne!(f.state, f.nonce);
    assert_eq!(s.cookie_name, format!("sso_flow_{}", &f.state[..8]));
    assert_eq!(s.max_age, FLOW_LIFETIME_SECS);
    assert!(s.cookie_value.len() <= CHUNK_LEN);
    let expect = format!(
        "https://auth.example.com/application/o/authorize/?response_type=code\
         &client_id=my-client\
         &redirect_uri=https%3A%2F%2Fapp.example.com%2Foutpost.goauthentik.io%2Fcallback\
         &scope=openid%20profile%20email&state={}&nonce={}&code_challenge={}\
         &code_challenge_method=S256",
        f.state,
        f.nonce,
        code_challenge_s256(&f.code_verifier)
    );
    assert_eq!(s.location, expect);
    // Debug never shows the verifier (the nonce is public in the URL anyway)
    let dbg = format!("{s:?}");
    assert!(!dbg.contains(&f.code_verifier));
    assert!(!format!("{f:?}").contains(&f.nonce));
    // two starts differ
    let s2 = start(&k, "my-client", &REQ, "/", 1000).unwrap();
    assert_ne!(s2.flow.state, f.state);
    assert_ne!(s2.cookie_name, s.cookie_name);
}

#[test]
fn authorization_url_with_existing_query() {
    let req = AuthRequest {
        authorization_endpoint: "https://idp.example/auth?tenant=a b#frag",
        ..REQ
    };
    let u = authorization_url(&req, "st", "no", "ch");
    assert!(u.starts_with("https://idp.example/auth?tenant=a b&response_type=code&"));
    assert!(!u.contains('#'));
    assert_eq!(
        append_query("https://x/a?", &[("k", "v")]),
        "https://x/a?k=v"
    );
    assert_eq!(
        append_query("https://x/a?q=1&", &[("k", "v")]),
        "https://x/a?q=1&k=v"
    );
    assert_eq!(
        append_query("https://x/a", &[("k", "a&b=c")]),
        "https://x/a?k=a%26b%3Dc"
    );
}

fn params(code: &str, state: &str) -> CallbackParams {
    parse_callback_query(&format!("code={code}&state={state}"))
}

#[test]
fn callback_round_trip() {
    let k = keys();
    let s = start(&k, "my-client", &REQ, "/after", 1000).unwrap();
    let p = params("the-code", &s.flow.state);
    assert_eq!(
        flow_cookie_name(p.state.as_deref().unwrap()).unwrap(),
        s.cookie_name
    );
    let cb = callback(
        &k,
        "my-client",
        "https://auth.example.com/",
        &p,
        Some(s.cookie_value.as_bytes()),
        1100,
    )
    .unwrap();
    assert_eq!(cb.code, "the-code");
    assert_eq!(cb.flow, s.flow);
    assert_eq!(cb.flow.rd, "/after");
}

#[test]
fn callback_failures() {
    let k = keys();
    let iss = "https://auth.example.com/";
    let s = start(&k, "my-client", &REQ, "/", 1000).unwrap();
    let c = Some(s.cookie_value.as_bytes());
    let st = s.flow.state.clone();
    let run = |p: &CallbackParams, cookie: Option<&[u8]>, app: &str, now: u64| {
        callback(&k, app, iss, p, cookie, now).unwrap_err()
    };
    // wrong state, even with the same 8-char prefix
    let mut forged = st.clone();
    forged.push('x');
    assert_eq!(
        run(&params("c", &forged), c, "my-client", 1001),
        FlowError::StateMismatch
    );
    assert_eq!(
        run(&params("c", &st), c, "my-client", 1000 + FLOW_LIFETIME_SECS),
        FlowError::FlowExpired
    );
    assert_eq!(
        run(&params("c", &st), c, "other-client", 1001),
        FlowError::BadFlowCookie
    );
    assert_eq!(
        run(&params("c", &st), None, "my-client", 1001),
        FlowError::NoFlowCookie
    );
    assert_eq!(
        run(&params("c", &st), Some(b"garbage"), "my-client", 1001),
        FlowError::BadFlowCookie
    );
    assert_eq!(
        run(
            &parse_callback_query(&format!("state={st}")),
            c,
            "my-client",
            1001
        ),
        FlowError::MissingParameter("code")
    );
    assert_eq!(
        run(&parse_callback_query("code=abc"), c, "my-client", 1001),
        FlowError::MissingParameter("state")
    );
    let mut p = params("c", &st);
    p.iss = Some("https://evil.example/".into());
    assert_eq!(run(&p, c, "my-client", 1001), FlowError::IssuerMismatch);
    p.iss = Some(iss.into());
    assert!(callback(&k, "my-client", iss, &p, c, 1001).is_ok());

    // a session cookie is never a flow cookie
    let sess = k
        .seal(
            &Session::new(Identity::default(), 1000, 100, None),
            "my-client",
        )
        .unwrap();
    assert_eq!(
        run(
            &params("c", &st),
            Some(sess[0].as_bytes()),
            "my-client",
            1001
        ),
        FlowError::BadFlowCookie
    );
    // and a flow cookie is never a session
    assert!(k
        .open(&[s.cookie_value.as_bytes()], "my-client", 1001)
        .is_err());
}

#[test]
fn provider_error_is_sanitised() {
    let k = keys();
    let p = parse_callback_query(
        "error=access_denied&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E%0d%0aX&state=abc",
    );
    let e = callback(&k, "c", "i", &p, None, 0).unwrap_err();
    assert_eq!(e.reason(), "provider_error");
    assert_eq!(e.http_status(), 400);
    let text = e.to_string();
    assert!(text.contains("access_denied") && !text.contains('\r') && !text.contains('\n'));
    let html = e.html_page();
    assert!(!html.contains("<script>"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;X"));
    let long = format!("error=x&error_description={}", "a".repeat(5000));
    let e = callback(&k, "c", "i", &parse_callback_query(&long), None, 0).unwrap_err();
    assert!(e.to_string().len() < 1000);
}

#[test]
fn cookie_name_rules() {
    assert_eq!(
        flow_cookie_name("abcdefgh123").unwrap(),
        "sso_flow_abcdefgh"
    );
    assert_eq!(flow_cookie_name("abc"), None);
    assert_eq!(flow_cookie_name("abcdefgh;x=1"), None);
    assert_eq!(flow_cookie_name("ééééééé"), None);
    assert_eq!(flow_cookie_name(""), None);
}

#[test]
fn nonce_check() {
    assert!(nonce_matches("abc", Some("abc")));
    assert!(!nonce_matches("abc", Some("abd")));
    assert!(!nonce_matches("abc", Some("abcd")));
    assert!(!nonce_matches("abc", None));
    assert!(!nonce_matches("", Some("")));
}

#[test]
fn token_request_building() {
    let b = token_request_body("c o+de", "https://a/cb?x=1", "ver", "id", None);
    assert_eq!(
        b.as_str(),
        "grant_type=authorization_code&code=c%20o%2Bde&redirect_uri=https%3A%2F%2Fa%2Fcb%3Fx%3D1\
         &code_verifier=ver&client_id=id"
    );
    // RFC 6749 §2.3.1: form-encode id and secret, then base64
    assert_eq!(
        client_secret_basic("my client", "p@ss:w/rd").as_str(),
        format!("Basic {}", STANDARD.encode("my%20client:p%40ss%3Aw%2Frd"))
    );
    let sup = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(choose_client_auth(&[], true), ClientAuth::SecretBasic);
    assert_eq!(
        choose_client_auth(&sup(&["client_secret_post", "client_secret_basic"]), true),
        ClientAuth::SecretBasic
    );
    assert_eq!(
        choose_client_auth(&sup(&["client_secret_post"]), true),
        ClientAuth::SecretPost
    );
    assert_eq!(
        choose_client_auth(&sup(&["client_secret_post"]), false),
        ClientAuth::None
    );

    let t = token_request("c", "r", "v", "id", Some("s3"), ClientAuth::SecretPost);
    assert!(t.body.ends_with("&client_id=id&client_secret=s3"));
    assert_eq!(t.authorization, None);
    assert!(!format!("{t:?}").contains("s3"));
    let t = token_request("c", "r", "v", "id", Some("s3"), ClientAuth::SecretBasic);
    assert!(!t.body.contains("client_secret"));
    assert!(t.authorization.as_deref().unwrap().starts_with("Basic "));
    let t = token_request("c", "r", "v", "id", None, ClientAuth::SecretBasic);
    assert_eq!(t.authorization, None);
}

#[test]
fn token_responses() {
    let ok = br#"{"access_token":"at","id_token":"it","token_type":"Bearer","expires_in":300,"refresh_token":"rt","scope":"openid"}"#;
    let t = parse_token_response(200, ok).unwrap();
    assert_eq!(
        (t.access_token.as_str(), t.id_token.as_str(), t.expires_in),
        ("at", "it", Some(300))
    );
    assert_eq!(t.refresh_token.as_ref().map(|t| t.expose()), Some("rt"));
    assert!(!format!("{t:?}").contains("\"rt\""), "{t:?}");
    assert!(!format!("{t:?}").contains("\"at\""));

    let t = parse_token_response(
        200,
        br#"{"access_token":"at","id_token":"it","token_type":"bearer","expires_in":"3599"}"#,
    )
    .unwrap();
    assert_eq!((t.expires_in, t.refresh_token), (Some(3599), None));

    let e = parse_token_response(
        400,
        br#"{"error":"invalid_grant","error_description":"code <b>expired</b>\n"}"#,
    )
    .unwrap_err();
    assert_eq!(e.provider_error(), Some("invalid_grant"));
    assert_eq!(e.reason(), "provider_error");
    assert!(!e.to_string().contains('\n'));
    assert!(!e.html_page().contains("<b>"));

    assert_eq!(
        parse_token_response(502, b"<html>Bad gateway</html>"),
        Err(ExchangeError::Http { status: 502 })
    );
    assert_eq!(
        parse_token_response(500, br#"{"detail":"x"}"#),
        Err(ExchangeError::Http { status: 500 })
    );
    assert!(matches!(
        parse_token_response(200, b"not json"),
        Err(ExchangeError::Malformed(_))
    ));
    assert!(matches!(
        parse_token_response(200, b"[]"),
        Err(ExchangeError::Malformed(_))
    ));
    assert_eq!(
        parse_token_response(200, br#"{"access_token":"a","token_type":"Bearer"}"#),
        Err(ExchangeError::MissingIdToken)
    );
    assert!(matches!(
        parse_token_response(
            200,
            br#"{"access_token":"a","id_token":"i","token_type":"mac"}"#
        ),
        Err(ExchangeError::NotBearer(_))
    ));
    assert!(matches!(
        parse_token_response(200, br#"{"id_token":"i","token_type":"Bearer"}"#),
        Err(ExchangeError::Malformed(_))
    ));
    // an error field wins even on 200
    assert!(matches!(
        parse_token_response(200, br#"{"error":"server_error"}"#),
        Err(ExchangeError::Provider { .. })
    ));
}

#[test]
fn query_decoding() {
    assert_eq!(
        query_param("rd=%2F%2Fevil.com", "rd").as_deref(),
        Some("//evil.com")
    );
    assert_eq!(
        query_param("a=1&rd=%2Fa%20b+c&rd=second", "rd").as_deref(),
        Some("/a b c")
    );
    assert_eq!(query_param("rd", "rd").as_deref(), Some(""));
    assert_eq!(query_param("x=1", "rd"), None);
    assert_eq!(query_param("", "rd"), None);
    assert_eq!(query_param("r%64=%2", "rd").as_deref(), Some("%2"));
    assert_eq!(
        query_param("rd=%ff%fe", "rd").as_deref(),
        Some("\u{fffd}\u{fffd}")
    );
    let p = parse_callback_query("code=a%2Bb&state=s&iss=https%3A%2F%2Fi%2F");
    assert_eq!(p.code.as_deref(), Some("a+b"));
    assert_eq!(p.iss.as_deref(), Some("https://i/"));
}

#[test]
fn refresh_request_building() {
    // RFC 6749 §6, with the code exchange's client authentication (§2.3.1)
    let t = refresh_request("r/t+1", "my client", Some("s3"), ClientAuth::SecretBasic);
    assert_eq!(
        t.body.as_str(),
        "grant_type=refresh_token&refresh_token=r%2Ft%2B1&client_id=my%20client"
    );
    assert_eq!(
        t.authorization.as_deref().map(String::as_str),
        Some(client_secret_basic("my client", "s3").as_str())
    );
    let t = refresh_request("rt", "id", Some("s3"), ClientAuth::SecretPost);
    assert_eq!(
        t.body.as_str(),
        "grant_type=refresh_token&refresh_token=rt&client_id=id&client_secret=s3"
    );
    assert_eq!(t.authorization, None);
    assert!(!format!("{t:?}").contains("s3") && !format!("{t:?}").contains("rt"));
    let t = refresh_request("rt", "id", None, ClientAuth::None);
    assert_eq!(
        (t.body.as_str(), t.authorization),
        (
            "grant_type=refresh_token&refresh_token=rt&client_id=id",
            None
        )
    );
    // the code exchange is built by the same code and unchanged
    let t = token_request("c", "r", "v", "id", Some("s3"), ClientAuth::SecretBasic);
    assert_eq!(
        t.body.as_str(),
        "grant_type=authorization_code&code=c&redirect_uri=r&code_verifier=v&client_id=id"
    );
}

#[test]
fn refresh_responses() {
    // rotated, with an ID token
    let r = parse_refresh_response(
        200,
        br#"{"access_token":"at2","refresh_token":"rt2","id_token":"it2","token_type":"Bearer","expires_in":3600}"#,
    )
    .unwrap();
    let rt1 = RefreshToken::new("rt1".into());
    assert_eq!(r.refresh_token_after(&rt1).expose(), "rt2");
    assert_eq!(r.id_token.as_deref(), Some("it2"));
    assert_eq!((r.access_token.as_str(), r.expires_in), ("at2", Some(3600)));
    let dbg = format!("{r:?}");
    assert!(!dbg.contains("at2") && !dbg.contains("rt2") && !dbg.contains("it2"));
    // not rotated, no ID token (OIDC Core 12.2): the old refresh token stays
    let r =
        parse_refresh_response(200, br#"{"access_token":"at2","token_type":"bearer"}"#).unwrap();
    assert_eq!(r.refresh_token_after(&rt1).expose(), "rt1");
    assert_eq!(r.id_token, None);
    let r = parse_refresh_response(
        200,
        br#"{"access_token":"a","refresh_token":"","id_token":"","token_type":"Bearer"}"#,
    )
    .unwrap();
    assert_eq!(
        (
            r.refresh_token_after(&RefreshToken::new("old".into()))
                .expose()
                .to_owned(),
            r.id_token
        ),
        ("old".to_owned(), None)
    );

    // invalid_grant ends the session; nothing else does
    let e = parse_refresh_response(
        400,
        br#"{"error":"invalid_grant","error_description":"grant\r\nrevoked"}"#,
    )
    .unwrap_err();
    assert_eq!(
        e,
        RefreshError::Refused {
            description: Some("grantrevoked".into())
        }
    );
    assert!(e.ends_session());
    assert_eq!(e.reason(), "invalid_grant");
    assert!(RefreshError::SubjectChanged.ends_session());
    let keeps = |status: u16, body: &[u8], reason: &str| {
        let e = parse_refresh_response(status, body).unwrap_err();
        assert!(!e.ends_session(), "{status} {e}");
        assert_eq!(e.reason(), reason, "{status} {e}");
    };
    keeps(401, br#"{"error":"invalid_client"}"#, "provider_error");
    keeps(400, br#"{"error":"unauthorized_client"}"#, "provider_error");
    keeps(503, b"<html>down</html>", "provider_unavailable");
    keeps(502, b"", "provider_unavailable");
    keeps(500, br#"{"error":"server_error"}"#, "provider_unavailable");
    keeps(
        503,
        br#"{"error":"temporarily_unavailable"}"#,
        "provider_unavailable",
    );
    keeps(
        500,
        br#"{"error":"invalid_grant_x"}"#,
        "provider_unavailable",
    );
    keeps(404, br#"{"detail":"no"}"#, "provider_unavailable");
    keeps(200, b"not json", "malformed");
    keeps(200, br#"{"token_type":"Bearer"}"#, "malformed");
    keeps(
        200,
        br#"{"access_token":"a","token_type":"mac"}"#,
        "malformed",
    );
    assert!(!RefreshError::Unavailable("x".into()).ends_session());
    assert!(!RefreshError::IdToken("x".into()).ends_session());
}

#[test]
fn refreshed_id_token_claims() {
    use crate::jwt::tests::{good_claims, mint, test_keys, verifier, ISS, NOW};
    use serde_json::json;
    let sign = |claims: serde_json::Value| {
        let token = mint(json!({"alg": "ES256", "kid": "ec"}), claims);
        verifier()
            .verify(&test_keys(), &token, NOW)
            .map(|v| v.claims())
    };
    // a real signed refresh ID token with new groups; the login's nonce repeated, or another
    // one: a refresh checks no nonce
    for nonce in [
        json!("the-login-nonce"),
        json!("something-else"),
        json!(null),
    ] {
        let mut c = good_claims();
        c["groups"] = json!(["admins", "ops", "new-group"]);
        if !nonce.is_null() {
            c["nonce"] = nonce;
        }
        let claims = sign(c).expect("verifies as at login");
        let id = refreshed_identity(&claims, ISS, "u-1").expect("same iss and sub");
        assert_eq!(id.groups, ["admins", "ops", "new-group"]);
        assert_eq!((id.uid.as_str(), id.username.as_str()), ("u-1", "akadmin"));
    }
    // OIDC Core 12.2: another subject, another issuer
    let mut c = good_claims();
    c["sub"] = json!("u-2");
    let claims = sign(c).unwrap();
    assert_eq!(
        refreshed_identity(&claims, ISS, "u-1").unwrap_err(),
        RefreshError::SubjectChanged
    );
    let claims = sign(good_claims()).unwrap();
    assert_eq!(
        refreshed_identity(&claims, "https://other.example/", "u-1").unwrap_err(),
        RefreshError::SubjectChanged
    );
    assert!(refreshed_identity(&claims, ISS, "").is_err());
    let mut c = good_claims();
    c.as_object_mut().unwrap().remove("sub");
    let claims = sign(c).unwrap();
    assert!(refreshed_identity(&claims, ISS, "").is_err());
    // a tampered token does not get that far
    let token = mint(json!({"alg": "ES256", "kid": "ec"}), good_claims());
    let tampered = format!("{}x", &token[..token.len() - 1]);
    assert!(verifier().verify(&test_keys(), &tampered, NOW).is_err());
}

fn refresh_table(buf: &mut [u8]) -> refresh::RefreshTable<'_> {
    refresh::RefreshTable::format_with_key(buf, [9; 32]).expect("fits")
}

#[test]
fn refresh_single_flight() {
    use refresh::{refresh_key, Begin, Finish, DONE_HOLD_SECS, IN_FLIGHT_SECS};
    let mut buf = vec![0u8; 64 * 1024];
    let mut t = refresh_table(&mut buf);
    let k1 = refresh_key("rt-1", 1000);
    let now = 5000;
    assert_eq!(t.begin(&k1, now), Begin::Owner { warned: false });
    // everyone else passes while it is in flight
    for i in 0..30 {
        assert_eq!(t.begin(&k1, now + i % 3), Begin::InFlight);
    }
    // other sessions are independent
    assert_eq!(
        t.begin(&refresh_key("rt-2", 1000), now),
        Begin::Owner { warned: false }
    );
    assert!(!t.finish(&k1, now + 1, Finish::Done));
    // the old cookie's requests never send the consumed token again...
    assert_eq!(t.begin(&k1, now + 2), Begin::Done);
    assert_eq!(t.begin(&k1, now + 1 + DONE_HOLD_SECS - 1), Begin::Done);
    // ...while the renewed session (same token without rotation, new `vouched`) refreshes
    assert_eq!(
        t.begin(&refresh_key("rt-1", now + 1), now + 5),
        Begin::Owner { warned: false }
    );
    // forgotten after the hold
    assert_eq!(
        t.begin(&k1, now + 1 + DONE_HOLD_SECS),
        Begin::Owner { warned: false }
    );
    // a refusal ends the requests that carry the same session after it, too
    let k4 = refresh_key("rt-4", 1000);
    assert_eq!(t.begin(&k4, now), Begin::Owner { warned: false });
    assert!(!t.finish(&k4, now, Finish::Refused));
    assert_eq!(t.begin(&k4, now + 1), Begin::Refused);
    assert_eq!(t.begin(&k4, now + DONE_HOLD_SECS - 1), Begin::Refused);

    // an owner that never finishes (its worker died) is taken over after IN_FLIGHT_SECS
    let k3 = refresh_key("rt-3", 1000);
    assert_eq!(t.begin(&k3, now), Begin::Owner { warned: false });
    assert_eq!(t.begin(&k3, now + IN_FLIGHT_SECS - 1), Begin::InFlight);
    assert_eq!(
        t.begin(&k3, now + IN_FLIGHT_SECS),
        Begin::Owner { warned: false }
    );
}

#[test]
fn refresh_failures_retry_later_and_warn_once() {
    use refresh::{refresh_key, Begin, Finish, RETRY_SECS};
    let mut buf = vec![0u8; 64 * 1024];
    let mut t = refresh_table(&mut buf);
    let k = refresh_key("rt", 7);
    let now = 10_000;
    assert_eq!(t.begin(&k, now), Begin::Owner { warned: false });
    assert!(
        t.finish(&k, now, Finish::Failed),
        "the first failure is logged"
    );
    assert_eq!(t.begin(&k, now + 1), Begin::Later);
    assert_eq!(t.begin(&k, now + RETRY_SECS - 1), Begin::Later);
    assert_eq!(t.begin(&k, now + RETRY_SECS), Begin::Owner { warned: true });
    assert_eq!(t.begin(&k, now + RETRY_SECS), Begin::InFlight);
    assert!(
        !t.finish(&k, now + RETRY_SECS, Finish::Failed),
        "not logged again"
    );
    let later = now + 10 * RETRY_SECS;
    assert_eq!(t.begin(&k, later), Begin::Owner { warned: true });
    assert!(!t.finish(&k, later, Finish::Failed));
    // the provider is back: renewed
    assert_eq!(
        t.begin(&k, later + RETRY_SECS),
        Begin::Owner { warned: true }
    );
    assert!(!t.finish(&k, later + RETRY_SECS, Finish::Done));
    assert_eq!(t.begin(&k, later + RETRY_SECS + 1), Begin::Done);
}

#[test]
fn refresh_table_full_and_reattached() {
    use refresh::{refresh_key, Begin, RefreshTable, HEADER_LEN, IN_FLIGHT_SECS, PROBE, SLOT_LEN};
    assert_eq!(
        RefreshTable::slots_for(HEADER_LEN + (PROBE - 1) * SLOT_LEN),
        0
    );
    let mut small = vec![0u8; HEADER_LEN + (PROBE - 1) * SLOT_LEN];
    assert!(RefreshTable::format(&mut small).is_none());

    // PROBE slots: every key's window is the whole table
    let mut buf = vec![0u8; HEADER_LEN + PROBE * SLOT_LEN];
    let mut t = refresh_table(&mut buf);
    assert_eq!(t.slots(), PROBE);
    let now = 100;
    for i in 0..PROBE {
        assert_eq!(
            t.begin(&refresh_key(&format!("rt{i}"), 1), now),
            Begin::Owner { warned: false },
            "{i}"
        );
    }
    let extra = refresh_key("one-more", 1);
    assert_eq!(t.begin(&extra, now), Begin::Full);
    for i in 0..PROBE {
        assert_eq!(
            t.begin(&refresh_key(&format!("rt{i}"), 1), now + 1),
            Begin::InFlight
        );
    }
    // expired entries make room
    assert_eq!(
        t.begin(&extra, now + IN_FLIGHT_SECS),
        Begin::Owner { warned: false }
    );
    drop(t);

    // the entries live in the bytes: attached again (another worker), they are still there
    let mut t = RefreshTable::attach_or_format(&mut buf).unwrap();
    assert_eq!(t.begin(&extra, now + IN_FLIGHT_SECS + 1), Begin::InFlight);
    // garbage is formatted, never trusted
    let mut junk = vec![0xa5u8; 4096];
    let mut t = RefreshTable::attach_or_format(&mut junk).unwrap();
    assert_eq!(t.begin(&extra, now), Begin::Owner { warned: false });
}

#[test]
fn rd_table() {
    const H: &str = "example.com";
    let d = Some("example.com");
    let ok = |rd: &str, host: &str, dom: Option<&str>| {
        assert_eq!(
            validate_rd(rd, host, dom),
            rd,
            "should accept {rd:?} (host {host}, domain {dom:?})"
        );
    };
    let no = |rd: &str, host: &str, dom: Option<&str>| {
        assert_eq!(
            validate_rd(rd, host, dom),
            "/",
            "should refuse {rd:?} (host {host}, domain {dom:?})"
        );
    };
    // relative paths
    for rd in [
        "/",
        "/a",
        "/a/b?c=d&e=%2F#frag",
        "/.",
        "/..//x",
        "/%2F%2Fevil.com",
        "/a//b",
        "/?x",
        "/#x",
    ] {
        ok(rd, H, None);
    }
    // scheme-relative and friends
    for rd in [
        "",
        "//evil.com",
        "///evil.com",
        "////evil.com",
        "/\\evil.com",
        "\\\\evil.com",
        "\\/evil.com",
        "/\\/evil.com",
        "/a\\b",
        "\\",
        "//",
        "/\t/evil.com",
        "/\n/evil.com",
        "/\r\n/evil.com",
        "\t//evil.com",
        " //evil.com",
        "/\u{0}evil",
        "/\u{7f}",
        "/\u{85}/evil.com",
        "/\u{1b}[31m",
    ] {
        no(rd, H, None);
        no(rd, H, d);
    }
    // CR/LF header injection
    no("/x\r\nSet-Cookie: a=b", H, None);
    // other schemes
    for rd in [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "javascript://example.com/%0aalert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:x",
        "ftp://example.com/",
        "file:///etc/passwd",
        "evil.com",
        "example.com/x",
        "https:evil.com",
        "https:/evil.com",
        "https:///evil.com",
        "https:\\\\evil.com",
        "http:example.com",
        " https://example.com/",
        "https ://example.com/",
        "ws://example.com/",
        "mailto:a@example.com",
    ] {
        no(rd, H, None);
        no(rd, H, d);
    }
    // same host
    for rd in [
        "https://example.com",
        "https://example.com/",
        "http://example.com/x?y#z",
        "HTTPS://EXAMPLE.COM/x",
        "hTtP://Example.Com",
        "https://example.com:443/",
        "http://example.com:80/",
        "https://example.com:/",
        "https://example.com?x=1",
        "https://example.com#frag",
    ] {
        ok(rd, H, None);
    }
    ok("https://Example.com/", "EXAMPLE.COM", None);
    // host confusion
    for rd in [
        "https://example.com.evil.com/",
        "https://evil.com#@example.com",
        "https://evil.com?@example.com",
        "https://evil.com/@example.com",
        "https://example.com@evil.com",
        "https://example.com:443@evil.com/",
        "https://user:pass@example.com/",
        "https://@example.com/",
        "https://evil.com\\@example.com",
        "https://example.com\\@evil.com",
        "https://example.com\\.evil.com",
        "https://evil-example.com/",
        "https://wwwexample.com/",
        "https://example.com%2eevil.com/",
        "https://example%2ecom/",
        "https://exаmple.com/",
        "https://xn--exmple-cua.com/",
        "https://example.com./",
        "https://ex ample.com/",
        "https://evil.com",
        "https://example.com:8443/",
        "http://example.com:443/",
        "https://example.com:80/",
        "https://example.com:99999/",
        "https://example.com:-1/",
        "https://example.com:443:443/",
        "https://example.com:0x1bb/",
        "https://[example.com]/",
        "https://[::1]/",
        "https://example.com%00.evil.com/",
        "https://example.com\u{3002}evil.com/",
        "https://127.0.0.1/",
    ] {
        no(rd, H, None);
    }
    // ports: the request carries one
    ok("https://example.com:8443/x", "example.com:8443", None);
    ok("http://example.com:8443/x", "example.com:8443", None);
    no("https://example.com/x", "example.com:8443", None);
    no("https://example.com:8444/x", "example.com:8443", None);
    ok("https://example.com/x", "example.com:443", None);
    ok("https://[::1]:8443/", "[::1]:8443", None);
    no("https://[::2]:8443/", "[::1]:8443", None);
    // a broken request host only allows paths
    no("https://example.com/", "", None);
    no("https://example.com/", "example.com:abc", None);
    ok("/x", "", None);
    // cookie domain
    for rd in [
        "https://example.com/",
        "https://a.example.com/",
        "https://A.B.EXAMPLE.COM/x?y",
        "https://app.example.com:9443/",
        "http://app.example.com/",
    ] {
        ok(rd, "app.example.com", d);
        ok(rd, "app.example.com", Some(".example.com"));
        ok(rd, "other.host", Some("EXAMPLE.com"));
    }
    for rd in [
        "https://evil-example.com/",
        "https://aexample.com/",
        "https://example.com.evil.com/",
        "https://.example.com/",
        "https://a.example.com@evil.com/",
        "https://evil.com/.example.com",
        "https://evil.com#.example.com",
        "https://a.example.co/",
        "https://xample.com/",
        "https://a.example.com\\@evil.com/",
    ] {
        no(rd, "app.example.com", d);
    }
    no("https://a.example.com/", "app.example.com", Some(""));
    no("https://a.example.com/", "app.example.com", Some("."));
    no("https://a.example.com/", "app.example.com", None);
    // length cap
    no(&format!("/{}", "a".repeat(MAX_RD_LEN)), H, None);
    ok(&format!("/{}", "a".repeat(MAX_RD_LEN - 1)), H, None);
}

#[test]
fn rd_output_is_header_and_html_safe() {
    assert_eq!(validate_rd("/a b", "h", None), "/a%20b");
    assert_eq!(
        validate_rd("/<script>\"'`", "h", None),
        "/%3Cscript%3E%22'%60"
    );
    assert_eq!(validate_rd("/café", "h", None), "/caf%C3%A9");
    assert_eq!(validate_rd("/\u{fffd}", "h", None), "/%EF%BF%BD");
    assert_eq!(validate_rd("https://h/ü", "h", None), "https://h/%C3%BC");
    // decoded from a query string
    let rd = query_param("rd=%2Fx%0d%0aLocation%3A%20evil", "rd").unwrap();
    assert_eq!(validate_rd(&rd, "h", None), "/");
    let rd = query_param("rd=%2F%09%2Fevil.com", "rd").unwrap();
    assert_eq!(validate_rd(&rd, "h", None), "/");
}

const ISS: &str = "https://auth.example.com/application/o/app/";

fn disco(issuer: &str) -> String {
    format!(
        r#"{{"issuer":"{issuer}",
        "authorization_endpoint":"https://auth.example.com/application/o/authorize/",
        "token_endpoint":"https://auth.example.com/application/o/token/",
        "userinfo_endpoint":"https://auth.example.com/application/o/userinfo/",
        "end_session_endpoint":"https://auth.example.com/application/o/app/end-session/",
        "jwks_uri":"https://auth.example.com/application/o/app/jwks/",
        "response_types_supported":["code"],
        "token_endpoint_auth_methods_supported":["client_secret_post","client_secret_basic"],
        "code_challenge_methods_supported":["plain","S256"]}}"#
    )
}

#[test]
fn discovery() {
    assert_eq!(
        discovery_url(ISS),
        "https://auth.example.com/application/o/app/.well-known/openid-configuration"
    );
    assert_eq!(
        discovery_url("https://idp.example"),
        "https://idp.example/.well-known/openid-configuration"
    );
    let d = parse_discovery(disco(ISS).as_bytes(), ISS).unwrap();
    assert_eq!(
        d.token_endpoint,
        "https://auth.example.com/application/o/token/"
    );
    assert_eq!(
        d.jwks_uri.as_deref(),
        Some("https://auth.example.com/application/o/app/jwks/")
    );
    assert!(d.supports_s256());
    assert_eq!(
        choose_client_auth(&d.token_endpoint_auth_methods_supported, true),
        ClientAuth::SecretBasic
    );

    // trailing slash only: called out
    let e = parse_discovery(disco(ISS).as_bytes(), ISS.trim_end_matches('/')).unwrap_err();
    assert!(matches!(
        e,
        DiscoveryError::IssuerMismatch {
            trailing_slash_only: true,
            ..
        }
    ));
    assert!(e.to_string().contains("trailing slash"), "{e}");
    // a real mismatch
    let e = parse_discovery(disco("https://evil.example/").as_bytes(), ISS).unwrap_err();
    assert!(matches!(
        e,
        DiscoveryError::IssuerMismatch {
            trailing_slash_only: false,
            ..
        }
    ));
    assert!(!e.to_string().contains("trailing slash"));

    // minimal document
    let min = format!(
        r#"{{"issuer":"{ISS}","authorization_endpoint":"http://a/auth","token_endpoint":"http://a:9000/token"}}"#
    );
    let d = parse_discovery(min.as_bytes(), ISS).unwrap();
    assert!(d.token_endpoint_auth_methods_supported.is_empty());
    assert_eq!(d.end_session_endpoint, None);

    for bad in [
        "".to_owned(),
        "nope".to_owned(),
        "[]".to_owned(),
        format!(r#"{{"issuer":"{ISS}"}}"#),
        format!(
            r#"{{"issuer":"{ISS}","authorization_endpoint":5,"token_endpoint":"https://a/t"}}"#
        ),
    ] {
        assert!(
            matches!(
                parse_discovery(bad.as_bytes(), ISS),
                Err(DiscoveryError::Malformed(_))
            ),
            "{bad}"
        );
    }
    let e = parse_discovery(
        format!(r#"{{"issuer":"{ISS}","authorization_endpoint":"javascript:x","token_endpoint":"https://a/t"}}"#)
            .as_bytes(),
        ISS,
    )
    .unwrap_err();
    assert!(matches!(
        e,
        DiscoveryError::BadEndpoint {
            field: "authorization_endpoint",
            ..
        }
    ));
    let e = parse_discovery(
        format!(r#"{{"issuer":"{ISS}","authorization_endpoint":"https://a/x","token_endpoint":"https://a/t","jwks_uri":"/jwks"}}"#)
            .as_bytes(),
        ISS,
    )
    .unwrap_err();
    assert!(matches!(
        e,
        DiscoveryError::BadEndpoint {
            field: "jwks_uri",
            ..
        }
    ));
}

#[test]
fn backchannel() {
    let o = parse_backchannel_origin("http://server:9000").unwrap();
    assert_eq!(
        o,
        BackchannelOrigin {
            scheme: "http",
            authority: "server:9000".into()
        }
    );
    assert_eq!(
        parse_backchannel_origin("HTTPS://10.0.0.1/")
            .unwrap()
            .scheme,
        "https"
    );
    for bad in [
        "server:9000",
        "http://server:9000/path",
        "http://u:p@server",
        "ftp://server",
        "http://",
        "http://server:port",
        "http://server?x",
    ] {
        assert!(parse_backchannel_origin(bad).is_err(), "{bad}");
    }
    let r =
        rewrite_to_backchannel("https://auth.example.com/application/o/token/?a=b#f", &o).unwrap();
    assert_eq!(r.url, "http://server:9000/application/o/token/?a=b");
    assert_eq!(r.host, "auth.example.com");
    assert_eq!(r.original_scheme, "https");
    let r = rewrite_to_backchannel("http://Auth.Example.com:8080", &o).unwrap();
    assert_eq!(r.url, "http://server:9000");
    assert_eq!(r.host, "Auth.Example.com:8080");
    assert_eq!(rewrite_to_backchannel("/relative", &o), None);
    assert_eq!(rewrite_to_backchannel("https://u@h/x", &o), None);
}

#[test]
fn sign_out_url() {
    let ep = Some("https://auth.example.com/application/o/app/end-session/");
    assert_eq!(
        end_session_url(None, Some("tok"), Some("https://x/"), "id"),
        "/"
    );
    assert_eq!(end_session_url(Some("not a url"), None, None, "id"), "/");
    assert_eq!(
        end_session_url(ep, Some("a.b.c"), Some("https://app.example.com/bye?x=1"), "my client"),
        "https://auth.example.com/application/o/app/end-session/?id_token_hint=a.b.c\
         &post_logout_redirect_uri=https%3A%2F%2Fapp.example.com%2Fbye%3Fx%3D1&client_id=my%20client"
    );
    assert_eq!(
        end_session_url(Some("https://idp/logout?realm=x"), None, None, "id"),
        "https://idp/logout?realm=x&client_id=id"
    );
    assert_eq!(
        end_session_url(Some("https://idp/logout"), None, None, ""),
        "https://idp/logout"
    );
}

#[test]
fn arbitrary_input_never_panics() {
    let mut x: u64 = 7;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let pieces = [
        "/",
        "//",
        "\\",
        "http",
        "https",
        "://",
        ":",
        "@",
        "#",
        "?",
        "[",
        "]",
        "::1",
        "%",
        "%2F",
        "example.com",
        ".",
        "-",
        "é",
        "\t",
        "\n",
        "\u{0}",
        "443",
        "a",
        "=",
        "&",
        "+",
        "ü",
        "\u{3000}",
    ];
    let k = SessionKeys::parse(b"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
        .unwrap();
    for _ in 0..5000 {
        let n = (next() % 10) as usize;
        let s: String = (0..n)
            .map(|_| pieces[(next() % pieces.len() as u64) as usize])
            .collect();
        let out = validate_rd(&s, &s, Some(&s));
        assert!(
            out.starts_with('/') || out.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("http")),
            "{s:?} -> {out:?}"
        );
        assert!(!out.bytes().any(|b| b.is_ascii_control() || b == b' '));
        let _ = validate_rd(&s, "example.com:8443", Some("example.com"));
        let _ = query_param(&s, "rd");
        let p = parse_callback_query(&s);
        let _ = callback(&k, "c", "i", &p, Some(s.as_bytes()), 0);
        let _ = flow_cookie_name(&s);
        let _ = parse_discovery(s.as_bytes(), &s);
        let _ = parse_token_response(200, s.as_bytes());
        let _ = parse_backchannel_origin(&s);
        if let Ok(o) = parse_backchannel_origin("http://b:1") {
            let _ = rewrite_to_backchannel(&s, &o);
        }
        let _ = end_session_url(Some(&s), Some(&s), Some(&s), &s);
        let _ = append_query(&s, &[("a", &s)]);
    }
}

#[test]
fn html_escaping() {
    assert_eq!(
        html_escape("<a href=\"x\">'&'</a>"),
        "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
    );
    let page = error_page("<t>", "<m>");
    assert!(!page.contains("<t>") && !page.contains("<m>"));
}

/// The cross-node flight's name: the same on every node for one refresh, another for the
/// next one (a new vouched-for time), and never the token itself.
#[test]
fn flight_id_names_one_refresh_without_the_token() {
    use super::refresh::flight_id;
    let token = "rt-0123456789abcdef";
    let id = flight_id(token, 1_700_000_000);
    assert_eq!(id, flight_id(token, 1_700_000_000));
    assert_eq!(id.len(), 64);
    assert!(id
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    assert_ne!(id, flight_id(token, 1_700_000_001));
    assert_ne!(id, flight_id("rt-0123456789abcdeg", 1_700_000_000));
    assert!(!id.contains("0123456789abcdef"));
}
