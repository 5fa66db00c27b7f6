//! The authorization decision API over HTTP (`/authorize/check` and `/check-batch`):
//! decisions through tenant-wide, organization and team roles and role inheritance,
//! explanations only when asked, batches in order and bounded, who may call it, malformed
//! input, and role changes seen at the very next check — against a real server, on
//! SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use clavis_core::model::{Api, Organization, Role, RolePermission, Team, User};
use clavis_testkit::{Backend, Reply, TestServer};
use clavis_types::{RoleId, Slug, TeamId};
use serde_json::{Value, json};

clavis_testkit::on_both!(
    decisions_follow_tenant_org_and_team_roles,
    explanation_only_when_asked,
    batch_keeps_order_and_is_bounded,
    callers_need_the_scope_and_their_own_tenant,
    malformed_bodies_are_a_400_naming_the_field,
    role_changes_are_seen_at_the_next_check,
);

const PW: &str = "correct horse battery";
const API: &str = "https://docs.example.com";
const CHECK: &str = "/t/default/api/v2/authorize/check";
const BATCH: &str = "/t/default/api/v2/authorize/check-batch";

/// The tenant every test starts from:
/// - `ann`: role `reader` (read:doc) tenant-wide; role `editor` (write:doc) in `acme`;
///   a member of `beta` without roles there;
/// - `bob`: a member of `acme`, in its team `ops`, which holds role `admin`
///   (admin:doc), which inherits role `deleter` (delete:doc);
/// - `cy`: no roles at all.
struct World {
    s: TestServer,
    token: String,
    api: Api,
    ann: User,
    bob: User,
    cy: User,
    acme: Organization,
    beta: Organization,
    reader: Role,
    editor: Role,
    admin: Role,
    deleter: Role,
    ops: Team,
}

async fn world(b: Backend) -> World {
    let s = TestServer::start(b).await;
    let fx = s.fixtures("default");
    let api = fx
        .api(API, &["read:doc", "write:doc", "delete:doc", "admin:doc"])
        .await;
    let ann = fx.user("ann@example.com", PW).await;
    let bob = fx.user("bob@example.com", PW).await;
    let cy = fx.user("cy@example.com", PW).await;
    let acme = fx.org("acme", &[&ann, &bob]).await;
    let beta = fx.org("beta", &[&ann]).await;
    let reader = fx.role("reader", &api, &["read:doc"], &ann, None).await;
    let editor = fx
        .role("editor", &api, &["write:doc"], &ann, Some(&acme))
        .await;
    let deleter = unassigned_role(&s, "deleter", &api, &["delete:doc"]).await;
    let admin = unassigned_role(&s, "admin", &api, &["admin:doc"]).await;
    let ops = team(&s, &acme, "ops", &[&bob]).await;
    let t = fx.tenant().await;
    let now = s.core.now();
    let mut tx = s.core.store.begin().await.unwrap();
    tx.role_inherits_set(&t.id, &admin.id, std::slice::from_ref(&deleter.id))
        .await
        .unwrap();
    assert!(
        tx.team_role_add(&t.id, &ops.id, &admin.id, now)
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    let token = s.mgmt_token("default", &["read:authz"]).await;
    World {
        s,
        token,
        api,
        ann,
        bob,
        cy,
        acme,
        beta,
        reader,
        editor,
        admin,
        deleter,
        ops,
    }
}

/// A role holding `perms` of `api`, assigned to nobody.
async fn unassigned_role(s: &TestServer, name: &str, api: &Api, perms: &[&str]) -> Role {
    let t = s.fixtures("default").tenant().await;
    let now = s.core.now();
    let role = Role {
        tenant_id: t.id.clone(),
        id: RoleId::generate(now, &*s.core.rng),
        name: name.to_owned(),
        description: String::new(),
        created_at: now,
        updated_at: now,
    };
    let rp: Vec<_> = perms
        .iter()
        .map(|p| RolePermission {
            api_id: api.id.clone(),
            permission: (*p).to_owned(),
        })
        .collect();
    let mut tx = s.core.store.begin().await.unwrap();
    tx.role_insert(&role).await.unwrap();
    tx.role_permissions_set(&t.id, &role.id, &rp).await.unwrap();
    tx.commit().await.unwrap();
    role
}

/// A team of `org` with `members` (who must be members of the organization).
async fn team(s: &TestServer, org: &Organization, slug: &str, members: &[&User]) -> Team {
    let now = s.core.now();
    let team = Team {
        tenant_id: org.tenant_id.clone(),
        org_id: org.id.clone(),
        id: TeamId::generate(now, &*s.core.rng),
        slug: Slug::parse(slug).unwrap(),
        display_name: slug.to_owned(),
        description: String::new(),
        created_at: now,
        updated_at: now,
    };
    let mut tx = s.core.store.begin().await.unwrap();
    tx.team_insert(&team).await.unwrap();
    for m in members {
        assert!(
            tx.team_member_add(&org.tenant_id, &team.id, &m.id, now)
                .await
                .unwrap()
        );
    }
    tx.commit().await.unwrap();
    team
}

/// The body of one check of `user`'s `permission` (inside `org` when given).
fn body(user: &User, org: Option<&Organization>, permission: &str) -> Value {
    let mut b = json!({
        "subject": {"user_id": user.id.to_string()},
        "api": API,
        "permission": permission,
    });
    if let Some(o) = org {
        b["organization"] = json!(o.id.to_string());
    }
    b
}

async fn post(w: &World, path: &str, body: &Value) -> Reply {
    w.s.client.send("POST", path, &w.token, Some(body)).await
}

/// The decision for one check, which must succeed.
async fn allowed(w: &World, user: &User, org: Option<&Organization>, permission: &str) -> bool {
    let r = post(w, CHECK, &body(user, org, permission)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    r.json()["allowed"]
        .as_bool()
        .unwrap_or_else(|| panic!("no `allowed`: {}", r.body))
}

async fn decisions_follow_tenant_org_and_team_roles(b: Backend) {
    let w = world(b).await;
    let (ann, bob, cy) = (&w.ann, &w.bob, &w.cy);
    let (acme, beta) = (Some(&w.acme), Some(&w.beta));
    // (user, organization, permission, expected)
    let cases = [
        (ann, None, "read:doc", true),   // tenant-wide role
        (ann, acme, "read:doc", true),   // tenant-wide roles apply in every organization
        (ann, None, "write:doc", false), // `editor` is an acme role only
        (ann, acme, "write:doc", true),
        (ann, beta, "write:doc", false), // a member of beta, without roles there
        (ann, acme, "delete:doc", false),
        (bob, acme, "admin:doc", true),  // through the team's role
        (bob, acme, "delete:doc", true), // through the role it inherits
        (bob, None, "admin:doc", false), // team roles hold inside the organization only
        (bob, beta, "admin:doc", false), // not a member of beta
        (bob, acme, "read:doc", false),
        (cy, None, "read:doc", false),
        (cy, acme, "read:doc", false), // not a member
        (ann, None, "no:such-permission", false),
    ];
    for (user, org, perm, expected) in cases {
        let got = allowed(&w, user, org, perm).await;
        let org_name = org.map(|o| o.slug.as_str());
        assert_eq!(
            got,
            expected,
            "{} {org_name:?} {perm}",
            user.email.as_ref().map(|e| e.as_str()).unwrap_or_default()
        );
    }

    // The permission of another Api is not this Api's; an unknown Api allows nothing.
    let other =
        w.s.fixtures("default")
            .api("https://other.example.com", &["read:doc"])
            .await;
    let mut b = body(ann, None, "read:doc");
    b["api"] = json!(other.identifier);
    let r = post(&w, CHECK, &b).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["allowed"], false, "{}", r.body);
    b["api"] = json!("https://nowhere.example.com");
    let r = post(&w, CHECK, &b).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["allowed"], false, "{}", r.body);

    // A user of another tenant with the same role name there is not a user here.
    let ofx = w.s.fixtures("other");
    let oapi = ofx.api(API, &["read:doc"]).await;
    let stranger = ofx.user("zed@example.com", PW).await;
    ofx.role("reader", &oapi, &["read:doc"], &stranger, None)
        .await;
    let r = post(&w, CHECK, &body(&stranger, None, "read:doc")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json()["allowed"],
        false,
        "another tenant's user: {}",
        r.body
    );

    // A machine-to-machine client: what its grant on the Api holds, tenant-wide only.
    let app =
        w.s.fixtures("default")
            .m2m_app(&w.api, &["read:doc"], "client_secret_post", None)
            .await;
    let client = |perm: &str, org: Option<&Organization>| {
        let mut b = json!({
            "subject": {"client_id": app.client_id},
            "api": API,
            "permission": perm,
        });
        if let Some(o) = org {
            b["organization"] = json!(o.id.to_string());
        }
        b
    };
    for (b, expected) in [
        (client("read:doc", None), true),
        (client("write:doc", None), false),
        (client("read:doc", Some(&w.acme)), false),
    ] {
        let r = post(&w, CHECK, &b).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["allowed"], expected, "{b}: {}", r.body);
    }
}

async fn explanation_only_when_asked(b: Backend) {
    let w = world(b).await;
    let plain = post(&w, CHECK, &body(&w.ann, Some(&w.acme), "write:doc")).await;
    assert_eq!(plain.status, 200, "{}", plain.body);
    let v = plain.json();
    assert_eq!(
        v,
        json!({"allowed": true}),
        "nothing but the answer when not asked"
    );

    // `?explain=true` on an allow names the organization assignment and its role.
    let r = post(
        &w,
        &format!("{CHECK}?explain=true"),
        &body(&w.ann, Some(&w.acme), "write:doc"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["allowed"], true);
    let why = &v["explanation"];
    assert_eq!(why["source"], "organization_member", "{v}");
    assert_eq!(why["role_id"], w.editor.id.as_str(), "{v}");
    assert_eq!(why["role_name"], "editor", "{v}");
    assert!(
        !v.to_string().contains(w.reader.id.as_str()),
        "only what granted: {v}"
    );

    // `"explain": true` in the body, on an allow through a team and inheritance.
    let mut b = body(&w.bob, Some(&w.acme), "delete:doc");
    b["explain"] = json!(true);
    let v = post(&w, CHECK, &b).await.json();
    assert_eq!(v["allowed"], true, "{v}");
    let why = &v["explanation"];
    assert_eq!(why["source"], "team", "{v}");
    assert_eq!(why["team_id"], w.ops.id.as_str(), "{v}");
    assert_eq!(why["role_name"], "admin", "the assigned role: {v}");
    assert_eq!(
        why["via"],
        json!([w.admin.id.as_str(), w.deleter.id.as_str()]),
        "the inheritance chain to the role holding it: {v}"
    );

    // Denials explained say why; `explain=false` gives none.
    for (b, reason) in [
        (body(&w.cy, None, "read:doc"), "no_role_grants_permission"),
        (body(&w.cy, Some(&w.acme), "read:doc"), "not_a_member"),
        (body(&w.ann, None, "no:such"), "no_such_permission"),
    ] {
        let v = post(&w, &format!("{CHECK}?explain=true"), &b).await.json();
        assert_eq!(v["allowed"], false, "{v}");
        assert_eq!(v["explanation"]["reason"], reason, "{v}");
        assert!(v["explanation"]["message"].is_string(), "{v}");
    }
    let v = post(
        &w,
        &format!("{CHECK}?explain=false"),
        &body(&w.cy, None, "read:doc"),
    )
    .await
    .json();
    assert_eq!(v, json!({"allowed": false}));
}

async fn batch_keeps_order_and_is_bounded(b: Backend) {
    let w = world(b).await;
    let (ann, bob, cy) = (&w.ann, &w.bob, &w.cy);
    let acme = Some(&w.acme);
    let pattern = [
        (ann, None, "read:doc", true),
        (cy, None, "read:doc", false),
        (ann, acme, "write:doc", true),
        (ann, None, "write:doc", false),
        (bob, acme, "delete:doc", true),
        (bob, None, "delete:doc", false),
    ];
    // 100 checks (the limit): the pattern over and over, answered in order.
    let checks: Vec<Value> = (0..100)
        .map(|i| {
            let (u, o, p, _) = pattern[i % pattern.len()];
            body(u, o, p)
        })
        .collect();
    let r = post(&w, BATCH, &json!({ "checks": checks })).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let v = r.json();
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 100);
    for (i, res) in results.iter().enumerate() {
        let expected = pattern[i % pattern.len()].3;
        assert_eq!(res["allowed"], expected, "result {i}: {res}");
        assert!(res.get("explanation").is_none(), "not asked: {res}");
    }

    // Explanations per check, or for the whole batch.
    let mut one = body(ann, None, "read:doc");
    one["explain"] = json!(true);
    let v = post(
        &w,
        BATCH,
        &json!({"checks": [one, body(cy, None, "read:doc")]}),
    )
    .await
    .json();
    assert!(
        v["results"][0]["explanation"].is_object() || v["results"][0]["explanation"].is_array(),
        "{v}"
    );
    assert!(v["results"][1].get("explanation").is_none(), "{v}");
    let v = post(
        &w,
        BATCH,
        &json!({"explain": true, "checks": [body(ann, None, "read:doc"), body(cy, None, "read:doc")]}),
    )
    .await
    .json();
    for res in v["results"].as_array().unwrap() {
        assert!(res.get("explanation").is_some_and(|e| !e.is_null()), "{v}");
    }

    // No checks: no results.
    let r = post(&w, BATCH, &json!({"checks": []})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["results"], json!([]));

    // 101 checks: refused, naming the limit.
    let checks: Vec<Value> = (0..101).map(|_| body(ann, None, "read:doc")).collect();
    let r = post(&w, BATCH, &json!({ "checks": checks })).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["error"], "invalid_request");
    let why = r.json()["error_description"].as_str().unwrap().to_owned();
    assert!(why.contains("checks") && why.contains("100"), "{why}");
}

async fn callers_need_the_scope_and_their_own_tenant(b: Backend) {
    let w = world(b).await;
    let b1 = body(&w.ann, None, "read:doc");
    for path in [CHECK, BATCH] {
        let payload = if path == BATCH {
            json!({"checks": [b1.clone()]})
        } else {
            b1.clone()
        };
        let none = w.s.client.send("POST", path, "", Some(&payload)).await;
        assert_eq!(none.status, 401, "{}", none.body);
        assert_eq!(none.json()["error"], "invalid_token");

        // The Management API without `read:authz`.
        let weak = w.s.mgmt_token("default", &["read:logs"]).await;
        let r = w.s.client.send("POST", path, &weak, Some(&payload)).await;
        assert_eq!(r.status, 403, "{}", r.body);
        assert_eq!(r.json()["error"], "insufficient_scope");
        assert!(
            r.header("www-authenticate")
                .unwrap()
                .contains("scope=\"read:authz\"")
        );

        // Another tenant's token, here; and ours there.
        w.s.fixtures("other").tenant().await;
        let theirs = w.s.mgmt_token("other", &["read:authz"]).await;
        let r = w.s.client.send("POST", path, &theirs, Some(&payload)).await;
        assert_eq!(r.status, 401, "{}", r.body);
        let there = path.replace("/t/default/", "/t/other/");
        let r =
            w.s.client
                .send("POST", &there, &w.token, Some(&payload))
                .await;
        assert_eq!(r.status, 401, "{}", r.body);

        let r = post(&w, path, &payload).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }

    // A token for another Api of the tenant is not a Management API token.
    let app =
        w.s.fixtures("default")
            .m2m_app(&w.api, &["read:doc"], "client_secret_post", None)
            .await;
    let r =
        w.s.client
            .post_form(
                "/t/default/oauth/token",
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", &app.client_id),
                    ("client_secret", &app.secret),
                    ("audience", API),
                ],
                &[],
            )
            .await;
    let foreign = r.json()["access_token"].as_str().unwrap().to_owned();
    let r = w.s.client.send("POST", CHECK, &foreign, Some(&b1)).await;
    assert_eq!(r.status, 401, "{}", r.body);
}

async fn malformed_bodies_are_a_400_naming_the_field(b: Backend) {
    let w = world(b).await;
    let good = body(&w.ann, Some(&w.acme), "read:doc");
    let with = |k: &str, v: Value| {
        let mut b = good.clone();
        b[k] = v;
        b
    };
    let without = |k: &str| {
        let mut b = good.clone();
        b.as_object_mut().unwrap().remove(k);
        b
    };
    let cases: Vec<(Value, &str)> = vec![
        (with("bogus", json!(1)), "bogus"),
        (
            with("subject", json!({"user_id": "usr_x", "extra": 1})),
            "extra",
        ),
        (
            with("subject", json!({"user_id": "bob"})),
            "subject.user_id",
        ),
        (with("subject", json!({"user_id": 7})), "subject.user_id"),
        (
            with("subject", json!({"client_id": "not a client"})),
            "subject.client_id",
        ),
        (with("subject", json!({})), "subject"),
        (
            with(
                "subject",
                json!({"user_id": w.ann.id.to_string(), "client_id": "x"}),
            ),
            "subject",
        ),
        (with("subject", json!("usr_x")), "subject"),
        (without("subject"), "subject"),
        (with("organization", json!("acme")), "organization"),
        (with("organization", json!(12)), "organization"),
        (with("api", json!(["x"])), "api"),
        (with("api", json!("")), "api"),
        (with("api", json!("a".repeat(601))), "api"),
        (without("api"), "api"),
        (with("permission", json!(5)), "permission"),
        (
            with("permission", json!("read:doc write:doc")),
            "permission",
        ),
        (without("permission"), "permission"),
        (with("resource", json!({"id": 1})), "resource"),
        (with("context", json!([1, 2])), "context"),
        (
            with("context", json!({"blob": "x".repeat(9000)})),
            "context",
        ),
        (with("explain", json!("yes")), "explain"),
        (with("api", json!("bad\u{1}api")), "api"),
    ];
    for (b, field) in &cases {
        let r = post(&w, CHECK, b).await;
        assert_eq!(r.status, 400, "{field}: {b} → {}", r.body);
        assert_eq!(r.json()["error"], "invalid_request", "{}", r.body);
        let why = r.json()["error_description"].as_str().unwrap().to_owned();
        assert!(why.contains(field), "{field}: {why}");
    }

    // The same in a batch names the check.
    let bad = with("subject", json!({"user_id": "bob"}));
    let r = post(
        &w,
        BATCH,
        &json!({"checks": [good.clone(), good.clone(), bad]}),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let why = r.json()["error_description"].as_str().unwrap().to_owned();
    assert!(why.contains("checks[2].subject.user_id"), "{why}");
    let r = post(
        &w,
        BATCH,
        &json!({"checks": [good.clone(), with("x", json!(1))]}),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let why = r.json()["error_description"].as_str().unwrap().to_owned();
    assert!(why.contains("checks[1]") && why.contains('x'), "{why}");
    for (b, field) in [
        (json!({"checks": good.clone()}), "checks"),
        (json!({"checks": [good.clone()], "more": true}), "more"),
        (json!({"check": [good.clone()]}), "check"),
        (json!({"checks": [good.clone()], "explain": 1}), "explain"),
    ] {
        let r = post(&w, BATCH, &b).await;
        assert_eq!(r.status, 400, "{field}: {}", r.body);
        let why = r.json()["error_description"].as_str().unwrap().to_owned();
        assert!(why.contains(field), "{field}: {why}");
    }

    // Not JSON, not an object, an unknown query parameter.
    for raw in ["not json", "[]", "{\"subject\":"] {
        let r =
            w.s.client
                .http
                .post(w.s.client.url(CHECK))
                .bearer_auth(&w.token)
                .header("content-type", "application/json")
                .body(raw)
                .send()
                .await
                .unwrap();
        assert_eq!(r.status().as_u16(), 400, "{raw}");
    }
    let r = post(&w, &format!("{CHECK}?explain=maybe"), &good).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("explain"), "{}", r.body);
    let r = post(&w, &format!("{CHECK}?verbose=1"), &good).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("verbose"), "{}", r.body);

    // Well-formed ids of nobody are not errors: nobody is allowed anything.
    let ghost = json!({
        "subject": {"user_id": "usr_00000000000000000000000000"},
        "organization": "org_00000000000000000000000000",
        "api": API,
        "permission": "read:doc",
        "resource": "doc:1",
        "context": {"ip": "203.0.113.7"},
    });
    let r = post(&w, CHECK, &ghost).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["allowed"], false, "{}", r.body);
}

async fn role_changes_are_seen_at_the_next_check(b: Backend) {
    let w = world(b).await;
    let t = w.s.fixtures("default").tenant().await;
    let acme = Some(&w.acme);
    assert!(allowed(&w, &w.ann, None, "read:doc").await);
    assert!(allowed(&w, &w.ann, acme, "write:doc").await);
    assert!(allowed(&w, &w.bob, acme, "delete:doc").await);
    assert!(!allowed(&w, &w.cy, None, "read:doc").await);

    // Each change, then the very next check (the server's clock does not move).
    let now = w.s.core.now();
    let store = &w.s.core.store;

    let mut tx = store.begin().await.unwrap();
    assert!(
        tx.user_role_remove(&t.id, &w.ann.id, &w.reader.id)
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    assert!(
        !allowed(&w, &w.ann, None, "read:doc").await,
        "tenant-wide role removed"
    );

    let mut tx = store.begin().await.unwrap();
    assert!(
        tx.user_role_add(&t.id, &w.cy.id, &w.reader.id, now)
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    assert!(
        allowed(&w, &w.cy, None, "read:doc").await,
        "tenant-wide role added"
    );

    let mut tx = store.begin().await.unwrap();
    assert!(
        tx.member_role_remove(&t.id, &w.acme.id, &w.ann.id, &w.editor.id)
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    assert!(
        !allowed(&w, &w.ann, acme, "write:doc").await,
        "org role removed"
    );

    // A role's permissions change.
    let mut tx = store.begin().await.unwrap();
    tx.role_permissions_set(
        &t.id,
        &w.reader.id,
        &[RolePermission {
            api_id: w.api.id.clone(),
            permission: "write:doc".into(),
        }],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert!(
        !allowed(&w, &w.cy, None, "read:doc").await,
        "permission taken from the role"
    );
    assert!(
        allowed(&w, &w.cy, None, "write:doc").await,
        "permission given to the role"
    );

    // Inheritance cut, then team membership ended.
    let mut tx = store.begin().await.unwrap();
    tx.role_inherits_set(&t.id, &w.admin.id, &[]).await.unwrap();
    tx.commit().await.unwrap();
    assert!(
        !allowed(&w, &w.bob, acme, "delete:doc").await,
        "inheritance removed"
    );
    assert!(allowed(&w, &w.bob, acme, "admin:doc").await);
    let mut tx = store.begin().await.unwrap();
    assert!(
        tx.team_member_remove(&t.id, &w.ops.id, &w.bob.id)
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    assert!(
        !allowed(&w, &w.bob, acme, "admin:doc").await,
        "left the team"
    );

    // The role deleted: its tenant-wide assignment goes with it.
    let mut tx = store.begin().await.unwrap();
    assert!(tx.role_delete(&t.id, &w.reader.id).await.unwrap());
    tx.commit().await.unwrap();
    assert!(!allowed(&w, &w.cy, None, "write:doc").await, "role deleted");
}
