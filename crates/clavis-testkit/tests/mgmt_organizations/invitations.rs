//! Invitations and enabled connections of an organization (see the parent file).

use clavis_testkit::{Backend, TestServer};
use serde_json::json;

use super::{all_scopes, call, client_of, create_org, events};

pub(super) async fn invitations_show_their_link_once(b: Backend) {
    let s = TestServer::start(b).await;
    let fx = s.fixtures("default");
    let token = s.mgmt_token("default", &all_scopes()).await;
    let app = fx
        .spa_app(
            &["https://app.example.com/cb"],
            clavis_types::OrganizationUsage::Allow,
        )
        .await;
    let org = create_org(&s, &token, "acme").await;
    let id = org["id"].as_str().unwrap().to_owned();
    let path = format!("/organizations/{id}/invitations");
    let body = json!({
        "inviter": { "name": "Ann Admin" },
        "invitee": { "email": "new.hire@example.com" },
        "client_id": app,
        "ttl_sec": 3600,
        "app_metadata": { "plan": "pro" },
        "send_invitation_email": false
    });
    let r = call(&s, "POST", &path, &token, Some(body.clone())).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let inv = r.json();
    let inv_id = inv["id"].as_str().unwrap().to_owned();
    assert!(inv_id.starts_with("uinv_"));
    assert_eq!(inv["invitee"]["email"], "new.hire@example.com");
    assert_eq!(inv["inviter"]["name"], "Ann Admin");
    assert_eq!(inv["organization_id"], id.as_str());
    assert_eq!(inv["app_metadata"]["plan"], "pro");
    let url = inv["invitation_url"].as_str().unwrap();
    let prefix = format!("{}/login/invitation?invitation=", s.issuer("default"));
    assert!(url.starts_with(&prefix), "{url}");
    assert!(url.ends_with(&format!("&organization={id}")), "{url}");
    let ticket = &url[prefix.len()..url.find("&organization").unwrap()];
    assert!(ticket.len() >= 43, "{ticket}");
    let created_at = clavis_types::Timestamp::parse_rfc3339(inv["created_at"].as_str().unwrap());
    let expires_at = clavis_types::Timestamp::parse_rfc3339(inv["expires_at"].as_str().unwrap());
    assert_eq!(expires_at, created_at.map(|t| t.plus_secs(3600)), "ttl_sec");

    // Only the keyed digest is stored: it finds the invitation, the ticket is nowhere.
    let t = fx.tenant().await;
    let dk = {
        let mut tx = s.core.store.begin().await.unwrap();
        let dk = s.core.keyring.data_key(&mut *tx, &t.id).await.unwrap();
        tx.commit().await.unwrap();
        dk
    };
    let stored = {
        let mut tx = s.core.store.read().await.unwrap();
        tx.invitation_by_ticket(&t.id, &dk.secret_digest(ticket.as_bytes()))
            .await
            .unwrap()
            .unwrap()
    };
    assert_eq!(stored.id.to_string(), inv_id);
    assert_ne!(stored.ticket_digest, ticket.as_bytes());

    // Read and list without the link.
    let one = call(&s, "GET", &format!("{path}/{inv_id}"), &token, None).await;
    assert_eq!(one.status, 200, "{}", one.body);
    assert!(one.json().get("invitation_url").is_none(), "{}", one.body);
    let list = call(
        &s,
        "GET",
        &format!("{path}?include_totals=true"),
        &token,
        None,
    )
    .await
    .json();
    assert_eq!(list["total"], 1);
    assert!(!list.to_string().contains(ticket));

    // A connection enabled for the organization may be named.
    let conn = {
        let mut tx = s.core.store.read().await.unwrap();
        tx.connection_get_by_name(&t.id, clavis_core::service::DEFAULT_CONNECTION)
            .await
            .unwrap()
            .unwrap()
    };
    let mut with_conn = body.clone();
    with_conn["connection_id"] = json!(conn.id.to_string());
    let r = call(&s, "POST", &path, &token, Some(with_conn.clone())).await;
    assert_eq!(r.status, 400, "not enabled yet: {}", r.body);
    assert!(r.body.contains("connection_id"), "{}", r.body);
    let r = call(
        &s,
        "POST",
        &format!("/organizations/{id}/enabled_connections"),
        &token,
        Some(json!({ "connection_id": conn.id.to_string() })),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = call(&s, "POST", &path, &token, Some(with_conn)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["connection_id"], conn.id.to_string());
    let second = r.json()["id"].as_str().unwrap().to_owned();
    let r = call(&s, "DELETE", &format!("{path}/{second}"), &token, None).await;
    assert_eq!(r.status, 204, "{}", r.body);

    // Refusals naming the field.
    for (patch, named) in [
        (
            json!({ "send_invitation_email": true }),
            "send_invitation_email",
        ),
        (json!({ "ttl_sec": 2_592_001 }), "ttl_sec"),
        (json!({ "client_id": "nope" }), "client_id"),
        (
            json!({ "client_id": "ABCDEFGHJKMNPQRSTVWXYZ0123456789" }),
            "client_id",
        ),
        (
            json!({ "connection_id": "con_00000000000000000000000000" }),
            "connection_id",
        ),
        (
            json!({ "invitee": { "email": "not-an-address" } }),
            "invitee.email",
        ),
        (
            json!({ "roles": ["rol_00000000000000000000000000"] }),
            "roles[0]",
        ),
    ] {
        let mut b = body.clone();
        for (k, v) in patch.as_object().unwrap() {
            b[k] = v.clone();
        }
        let r = call(&s, "POST", &path, &token, Some(b)).await;
        assert_eq!(r.status, 400, "{patch}: {}", r.body);
        assert!(r.body.contains(named), "{named}: {}", r.body);
    }

    // The audit event carries neither the ticket nor the link.
    let created = events(&s, "organization.invitation.created").await;
    assert_eq!(created.len(), 2, "{created:?}");
    assert_eq!(created[0]["context"]["invitation_id"], inv_id.as_str());
    assert_eq!(created[1]["context"]["invitation_id"], second.as_str());
    assert_eq!(created[1]["context"]["connection_id"], conn.id.to_string());
    assert_eq!(created[0]["organization"]["org_id"], id.as_str());
    assert_eq!(created[0]["actor"]["client_id"], client_of(&token));
    assert!(!created[0].to_string().contains(ticket));

    // Delete, then 404 (also through another organization).
    let other = create_org(&s, &token, "beta").await;
    let via_other = format!(
        "/organizations/{}/invitations/{inv_id}",
        other["id"].as_str().unwrap()
    );
    assert_eq!(call(&s, "GET", &via_other, &token, None).await.status, 404);
    assert_eq!(
        call(&s, "DELETE", &via_other, &token, None).await.status,
        404
    );
    let r = call(&s, "DELETE", &format!("{path}/{inv_id}"), &token, None).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(
        call(&s, "GET", &format!("{path}/{inv_id}"), &token, None)
            .await
            .status,
        404
    );
    let deleted = events(&s, "organization.invitation.deleted").await;
    assert_eq!(deleted.len(), 2, "{deleted:?}");
    assert_eq!(deleted[1]["context"]["invitation_id"], inv_id.as_str());
}

pub(super) async fn enabled_connections(b: Backend) {
    let s = TestServer::start(b).await;
    let token = s.mgmt_token("default", &all_scopes()).await;
    let t = s.fixtures("default").tenant().await;
    let conn = {
        let mut tx = s.core.store.read().await.unwrap();
        tx.connection_get_by_name(&t.id, clavis_core::service::DEFAULT_CONNECTION)
            .await
            .unwrap()
            .unwrap()
    };
    let org = create_org(&s, &token, "acme").await;
    let id = org["id"].as_str().unwrap().to_owned();
    let path = format!("/organizations/{id}/enabled_connections");
    let r = call(
        &s,
        "POST",
        &path,
        &token,
        Some(json!({ "connection_id": conn.id.to_string() })),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let v = r.json();
    assert_eq!(v["connection_id"], conn.id.to_string());
    assert_eq!(v["assign_membership_on_login"], false);
    assert_eq!(v["show_as_button"], true);
    assert_eq!(v["connection"]["name"], conn.name.as_str());
    let dup = call(
        &s,
        "POST",
        &path,
        &token,
        Some(json!({ "connection_id": conn.id.to_string() })),
    )
    .await;
    assert_eq!(dup.status, 409, "{}", dup.body);
    let r = call(
        &s,
        "POST",
        &path,
        &token,
        Some(json!({ "connection_id": "con_00000000000000000000000000" })),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);

    // Enabling concurrently: exactly one request succeeds, the others are conflicts.
    let beta = create_org(&s, &token, "beta").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let beta_path = format!("/t/default/api/v2/organizations/{beta}/enabled_connections");
    let body = json!({ "connection_id": conn.id.to_string() });
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let (c, p, t, b) = (
                s.client.clone(),
                beta_path.clone(),
                token.clone(),
                body.clone(),
            );
            tokio::spawn(async move { c.send("POST", &p, &t, Some(&b)).await })
        })
        .collect();
    let mut statuses = Vec::new();
    for c in calls {
        statuses.push(c.await.unwrap().status);
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409, 409, 409, 409, 409, 409, 409]);
    let enabled = events(&s, "organization.connection.enabled").await;
    let for_beta = enabled
        .iter()
        .filter(|e| e["organization"]["org_id"] == beta.as_str())
        .count();
    assert_eq!(for_beta, 1, "one event for the one enable");

    let list = call(
        &s,
        "GET",
        &format!("{path}?include_totals=true"),
        &token,
        None,
    )
    .await
    .json();
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(
        list["enabled_connections"][0]["connection_id"],
        conn.id.to_string()
    );
    let one = format!("{path}/{}", conn.id);
    let r = call(
        &s,
        "PATCH",
        &one,
        &token,
        Some(json!({ "assign_membership_on_login": true, "show_as_button": false })),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["assign_membership_on_login"], true);
    assert_eq!(r.json()["show_as_button"], false);
    let r = call(&s, "PATCH", &one, &token, Some(json!({ "enabled": true }))).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("enabled"));
    assert_eq!(
        call(&s, "GET", &one, &token, None).await.json()["show_as_button"],
        false
    );
    assert_eq!(call(&s, "DELETE", &one, &token, None).await.status, 204);
    assert_eq!(call(&s, "GET", &one, &token, None).await.status, 404);
    assert_eq!(call(&s, "DELETE", &one, &token, None).await.status, 404);
    for t in [
        "organization.connection.enabled",
        "organization.connection.updated",
        "organization.connection.disabled",
    ] {
        // (beta's one successful concurrent enable aside)
        let e: Vec<_> = events(&s, t)
            .await
            .into_iter()
            .filter(|e| e["organization"]["org_id"] != beta.as_str())
            .collect();
        assert_eq!(e.len(), 1, "{t}");
        assert_eq!(e[0]["organization"]["org_id"], id.as_str());
        assert_eq!(e[0]["context"]["connection_id"], conn.id.to_string());
    }
}
