//! Authentication: static bearer tokens, ServiceAccount TokenRequest tokens and legacy
//! `kubernetes.io/service-account-token` Secrets.
//!
//! TokenRequest tokens are JWT-shaped (`header.claims.signature`, base64url) with the claims the
//! real issuer writes (`aud`, `exp`, `iat`, `nbf`, `iss`, `jti`, `sub`, `kubernetes.io`), but the
//! "signature" is random: they are validated by lookup in [`Tokens`], not by a key. As the real
//! validator (pkg/serviceaccount/claims.go) they authenticate only while not expired, while the
//! ServiceAccount exists with the uid it was issued for and is not being deleted, and while the
//! bound object (Pod, Secret or Node) exists with the bound uid and is not being deleted (the real
//! one tolerates a bound Pod being deleted for 60 s; here deletion ends it at once). A ServiceAccount
//! deleted and recreated with the same name has a new uid, so old tokens answer 401.
//!
//! Legacy Secret tokens authenticate while the Secret exists (not being deleted), its `data.token`
//! matches, and the ServiceAccount named by its annotation exists with the uid of its
//! `kubernetes.io/service-account.uid` annotation (when present).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use base64::Engine as _;
use jiff::Timestamp;
use serde_json::{Value, json};

use crate::controllers::{
    Snapshot, is_terminating, keys, obj_name, obj_namespace, obj_uid, str_at,
};

/// The authenticated user, as `user.Info`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserInfo {
    pub username: String,
    pub uid: Option<String>,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// A user with the given groups plus `system:authenticated`.
    pub fn user(name: &str, groups: &[&str]) -> Self {
        let mut g: Vec<String> = groups.iter().map(|s| s.to_string()).collect();
        if !g.iter().any(|x| x == "system:authenticated") {
            g.push("system:authenticated".into());
        }
        UserInfo {
            username: name.to_string(),
            uid: None,
            groups: g,
            extra: BTreeMap::new(),
        }
    }

    /// The identity of a ServiceAccount: `system:serviceaccount:<ns>:<name>`, groups
    /// `system:serviceaccounts`, `system:serviceaccounts:<ns>`, `system:authenticated`.
    pub fn service_account(ns: &str, name: &str, uid: &str) -> Self {
        UserInfo {
            username: service_account_username(ns, name),
            uid: Some(uid.to_string()),
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{ns}"),
                "system:authenticated".into(),
            ],
            extra: BTreeMap::new(),
        }
    }
}

/// `serviceaccount.MakeUsername`.
pub fn service_account_username(ns: &str, name: &str) -> String {
    format!("system:serviceaccount:{ns}:{name}")
}

/// The object a TokenRequest token is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundObject {
    /// Pod, Secret or Node.
    pub kind: String,
    pub name: String,
    pub uid: String,
}

#[derive(Debug, Clone)]
struct Issued {
    namespace: String,
    name: String,
    sa_uid: String,
    bound: Option<BoundObject>,
    expires: Timestamp,
    jti: String,
}

/// Token authenticator state, held by the server.
#[derive(Debug, Default)]
pub struct Tokens {
    statics: Mutex<HashMap<String, UserInfo>>,
    issued: Mutex<HashMap<String, Issued>>,
}

pub const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

fn b64url(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

fn random_bytes() -> Vec<u8> {
    let mut v = uuid::Uuid::new_v4().as_bytes().to_vec();
    v.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    v
}

impl Tokens {
    pub fn new() -> Self {
        Tokens::default()
    }

    /// Registers a fixed token for a user (admin, test users).
    pub fn add_static(&self, token: &str, user: UserInfo) {
        if let Ok(mut m) = self.statics.lock() {
            m.insert(token.to_string(), user);
        }
    }

    /// Issues a TokenRequest token for the ServiceAccount `sa_namespace/sa_name` with uid `sa_uid`.
    /// Returns the token and its expiration (`now + expiration_seconds`, at least 1 s).
    pub fn issue(
        &self,
        sa_namespace: &str,
        sa_name: &str,
        sa_uid: &str,
        bound: Option<BoundObject>,
        expiration_seconds: i64,
        now: Timestamp,
    ) -> (String, Timestamp) {
        let iat = now.as_second();
        let exp_s = iat.saturating_add(expiration_seconds.max(1));
        let expires = Timestamp::from_second(exp_s).unwrap_or(now);
        let jti = uuid::Uuid::new_v4().to_string();
        let mut k8s = json!({
            "namespace": sa_namespace,
            "serviceaccount": {"name": sa_name, "uid": sa_uid},
        });
        if let Some(b) = &bound {
            k8s[b.kind.to_ascii_lowercase()] = json!({"name": b.name, "uid": b.uid});
        }
        let claims = json!({
            "aud": [ISSUER],
            "exp": exp_s,
            "iat": iat,
            "iss": ISSUER,
            "jti": jti,
            "kubernetes.io": k8s,
            "nbf": iat,
            "sub": service_account_username(sa_namespace, sa_name),
        });
        let header = json!({"alg": "RS256", "kid": "kubesim"});
        let token = format!(
            "{}.{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes()),
            b64url(&random_bytes())
        );
        if let Ok(mut m) = self.issued.lock() {
            m.retain(|_, i| i.expires > now);
            m.insert(
                token.clone(),
                Issued {
                    namespace: sa_namespace.to_string(),
                    name: sa_name.to_string(),
                    sa_uid: sa_uid.to_string(),
                    bound,
                    expires,
                    jti,
                },
            );
        }
        (token, expires)
    }

    /// The user a bearer token identifies, or None (→ 401).
    pub fn authenticate(&self, token: &str, snap: &Snapshot, now: Timestamp) -> Option<UserInfo> {
        if let Some(u) = self.statics.lock().ok().and_then(|m| m.get(token).cloned()) {
            return Some(u);
        }
        let issued = self.issued.lock().ok().and_then(|m| m.get(token).cloned());
        if let Some(i) = issued {
            return validate_issued(&i, snap, now);
        }
        legacy(token, snap)
    }
}

fn live<'a>(
    snap: &'a Snapshot,
    key: &str,
    ns: Option<&str>,
    name: &str,
    uid: &str,
) -> Option<&'a Value> {
    snap.get(key, ns, name)
        .filter(|o| obj_uid(o) == Some(uid) && !is_terminating(o))
}

fn validate_issued(i: &Issued, snap: &Snapshot, now: Timestamp) -> Option<UserInfo> {
    if i.expires <= now {
        return None;
    }
    live(
        snap,
        keys::SERVICE_ACCOUNTS,
        Some(&i.namespace),
        &i.name,
        &i.sa_uid,
    )?;
    let mut user = UserInfo::service_account(&i.namespace, &i.name, &i.sa_uid);
    if let Some(b) = &i.bound {
        let (key, ns) = match b.kind.as_str() {
            "Pod" => (keys::PODS, Some(i.namespace.as_str())),
            "Secret" => (keys::SECRETS, Some(i.namespace.as_str())),
            "Node" => (keys::NODES, None),
            _ => return None,
        };
        live(snap, key, ns, &b.name, &b.uid)?;
        if b.kind == "Pod" {
            user.extra.insert(
                "authentication.kubernetes.io/pod-name".into(),
                vec![b.name.clone()],
            );
            user.extra.insert(
                "authentication.kubernetes.io/pod-uid".into(),
                vec![b.uid.clone()],
            );
        }
    }
    user.extra.insert(
        "authentication.kubernetes.io/credential-id".into(),
        vec![format!("JTI={}", i.jti)],
    );
    Some(user)
}

fn legacy(token: &str, snap: &Snapshot) -> Option<UserInfo> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let secret = snap
        .list(keys::SECRETS)
        .iter()
        .map(|s| s.as_ref())
        .find(|s| {
            str_at(s, "/type") == Some("kubernetes.io/service-account-token")
                && str_at(s, "/data/token")
                    .and_then(|t| b64.decode(t).ok())
                    .is_some_and(|t| t == token.as_bytes())
        })?;
    if is_terminating(secret) {
        return None;
    }
    let ns = obj_namespace(secret).unwrap_or("default");
    let ann = secret.pointer("/metadata/annotations")?;
    let sa_name = ann
        .get("kubernetes.io/service-account.name")
        .and_then(Value::as_str)?;
    let sa = snap
        .get(keys::SERVICE_ACCOUNTS, Some(ns), sa_name)
        .filter(|sa| !is_terminating(sa))?;
    let sa_uid = obj_uid(sa).unwrap_or("");
    if let Some(want) = ann
        .get("kubernetes.io/service-account.uid")
        .and_then(Value::as_str)
        && want != sa_uid
    {
        return None;
    }
    let mut user = UserInfo::service_account(ns, obj_name(sa), sa_uid);
    user.extra.insert(
        "authentication.kubernetes.io/credential-id".into(),
        vec![format!("secret/{}", obj_uid(secret).unwrap_or(""))],
    );
    Some(user)
}

/// The token the legacy token controller writes into a `kubernetes.io/service-account-token`
/// Secret: JWT-shaped with the legacy claims; the "signature" is derived from the Secret's uid
/// (random, assigned by the store) so that the controller can stay a pure function.
pub fn legacy_token_for_secret(secret: &Value, sa: &Value) -> String {
    let ns = obj_namespace(secret).unwrap_or("default");
    let claims = json!({
        "iss": "kubernetes/serviceaccount",
        "kubernetes.io/serviceaccount/namespace": ns,
        "kubernetes.io/serviceaccount/secret.name": obj_name(secret),
        "kubernetes.io/serviceaccount/service-account.name": obj_name(sa),
        "kubernetes.io/serviceaccount/service-account.uid": obj_uid(sa).unwrap_or(""),
        "sub": service_account_username(ns, obj_name(sa)),
    });
    let header = json!({"alg": "RS256", "kid": "kubesim"});
    let seed = format!(
        "{}/{}",
        obj_uid(secret).unwrap_or(""),
        obj_uid(sa).unwrap_or("")
    );
    let mut sig = Vec::with_capacity(32);
    for round in 0u64..4 {
        let mut h: u64 = 0xcbf29ce484222325 ^ round;
        for b in seed.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100000001b3);
        }
        sig.extend_from_slice(&h.to_be_bytes());
    }
    format!(
        "{}.{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes()),
        b64url(&sig)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn sa(uid: &str) -> Value {
        json!({"kind":"ServiceAccount","metadata":{"name":"bot","namespace":"ns","uid":uid}})
    }

    #[test]
    fn static_tokens() {
        let tk = Tokens::new();
        tk.add_static("admin-token", UserInfo::user("admin", &["system:masters"]));
        let u = tk
            .authenticate(
                "admin-token",
                &Snapshot::default(),
                t("2024-01-01T00:00:00Z"),
            )
            .unwrap();
        assert_eq!(u.username, "admin");
        assert!(u.groups.contains(&"system:authenticated".to_string()));
        assert!(
            tk.authenticate("nope", &Snapshot::default(), t("2024-01-01T00:00:00Z"))
                .is_none()
        );
    }

    #[test]
    fn token_request_bound_to_sa_uid_and_expiry() {
        let tk = Tokens::new();
        let now = t("2024-01-01T00:00:00Z");
        let (tok, exp) = tk.issue("ns", "bot", "u1", None, 3600, now);
        assert_eq!(exp, t("2024-01-01T01:00:00Z"));
        assert_eq!(tok.split('.').count(), 3);
        let claims: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(tok.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(claims["sub"], "system:serviceaccount:ns:bot");
        assert_eq!(claims["kubernetes.io"]["serviceaccount"]["uid"], "u1");
        let snap = Snapshot::from_objects([("/serviceaccounts", sa("u1"))]);
        let u = tk.authenticate(&tok, &snap, now).unwrap();
        assert_eq!(u.username, "system:serviceaccount:ns:bot");
        assert_eq!(
            u.groups,
            vec![
                "system:serviceaccounts",
                "system:serviceaccounts:ns",
                "system:authenticated"
            ]
        );
        assert_eq!(u.uid.as_deref(), Some("u1"));
        assert!(
            tk.authenticate(&tok, &snap, t("2024-01-01T01:00:00Z"))
                .is_none(),
            "expired"
        );
        assert!(
            tk.authenticate(&tok, &Snapshot::default(), now).is_none(),
            "SA deleted"
        );
        let recreated = Snapshot::from_objects([("/serviceaccounts", sa("u2"))]);
        assert!(
            tk.authenticate(&tok, &recreated, now).is_none(),
            "SA recreated with a new uid"
        );
    }

    #[test]
    fn pod_bound_token() {
        let tk = Tokens::new();
        let now = t("2024-01-01T00:00:00Z");
        let bound = BoundObject {
            kind: "Pod".into(),
            name: "p".into(),
            uid: "pu".into(),
        };
        let (tok, _) = tk.issue("ns", "bot", "u1", Some(bound), 3600, now);
        let pod = json!({"kind":"Pod","metadata":{"name":"p","namespace":"ns","uid":"pu"}});
        let snap = Snapshot::from_objects([("/serviceaccounts", sa("u1")), ("/pods", pod.clone())]);
        let u = tk.authenticate(&tok, &snap, now).unwrap();
        assert_eq!(u.extra["authentication.kubernetes.io/pod-name"], vec!["p"]);
        let snap = Snapshot::from_objects([("/serviceaccounts", sa("u1"))]);
        assert!(tk.authenticate(&tok, &snap, now).is_none(), "pod deleted");
        let mut other = pod;
        other["metadata"]["uid"] = json!("pu2");
        let snap = Snapshot::from_objects([("/serviceaccounts", sa("u1")), ("/pods", other)]);
        assert!(tk.authenticate(&tok, &snap, now).is_none(), "pod recreated");
    }

    #[test]
    fn legacy_secret_tokens() {
        let tk = Tokens::new();
        let now = t("2024-01-01T00:00:00Z");
        let secret = |uid_ann: &str| {
            json!({"kind":"Secret","type":"kubernetes.io/service-account-token",
                   "metadata":{"name":"bot-token","namespace":"ns","uid":"su","annotations":{
                       "kubernetes.io/service-account.name":"bot","kubernetes.io/service-account.uid":uid_ann}},
                   "data":{"token": base64::engine::general_purpose::STANDARD.encode("legacy-tok")}})
        };
        let snap =
            Snapshot::from_objects([("/serviceaccounts", sa("u1")), ("/secrets", secret("u1"))]);
        assert_eq!(
            tk.authenticate("legacy-tok", &snap, now).unwrap().username,
            "system:serviceaccount:ns:bot"
        );
        let snap = Snapshot::from_objects([("/serviceaccounts", sa("u1"))]);
        assert!(
            tk.authenticate("legacy-tok", &snap, now).is_none(),
            "secret deleted"
        );
        let snap =
            Snapshot::from_objects([("/serviceaccounts", sa("u2")), ("/secrets", secret("u1"))]);
        assert!(
            tk.authenticate("legacy-tok", &snap, now).is_none(),
            "SA recreated"
        );
    }
}
