//! The API semantics on top of the store: create (defaulting, generateName, uid, timestamps),
//! update (optimistic concurrency, generation, status subresource rules), patch, delete
//! (grace periods, finalizers, propagation policies), and errors as metav1.Status.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value, json};

use crate::resources::{Registry, ResourceDef};
use crate::store::{Store, StoreError, rv_of};

/// An API error, rendered as a metav1.Status.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    pub code: u16,
    pub reason: String,
    pub message: String,
    pub details: Option<Box<Value>>,
    pub retry_after: Option<u64>,
    /// A complete Status body (e.g. the 422 Invalid from schema::invalid_status).
    pub body: Option<Box<Value>>,
}

impl ApiError {
    pub fn new(code: u16, reason: &str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason: reason.into(),
            message: message.into(),
            details: None,
            retry_after: None,
            body: None,
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(Box::new(details));
        self
    }

    fn named(def: &ResourceDef, name: &str) -> Value {
        let mut d = json!({"name": name, "kind": def.plural});
        if !def.group.is_empty() {
            d["group"] = json!(def.group);
        }
        d
    }

    pub fn not_found(def: &ResourceDef, name: &str) -> Self {
        ApiError::new(
            404,
            "NotFound",
            format!("{} \"{}\" not found", def.qualified(), name),
        )
        .with_details(Self::named(def, name))
    }

    pub fn namespace_not_found(ns: &str) -> Self {
        ApiError::new(404, "NotFound", format!("namespaces \"{ns}\" not found"))
            .with_details(json!({"name": ns, "kind": "namespaces"}))
    }

    pub fn already_exists(def: &ResourceDef, name: &str) -> Self {
        ApiError::new(
            409,
            "AlreadyExists",
            format!("{} \"{}\" already exists", def.qualified(), name),
        )
        .with_details(Self::named(def, name))
    }

    pub fn conflict(def: &ResourceDef, name: &str, why: &str) -> Self {
        ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{}\": {}",
                def.qualified(),
                name,
                why
            ),
        )
        .with_details(Self::named(def, name))
    }

    pub fn modified(def: &ResourceDef, name: &str) -> Self {
        Self::conflict(
            def,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(400, "BadRequest", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        let message = message.into();
        ApiError::new(
            500,
            "InternalError",
            format!("Internal error occurred: {message}"),
        )
        .with_details(json!({"causes": [{"message": message}]}))
    }

    pub fn gone(message: impl Into<String>) -> Self {
        ApiError::new(410, "Expired", message)
    }

    pub fn method_not_allowed() -> Self {
        ApiError::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
    }

    pub fn not_found_path() -> Self {
        ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    pub fn unsupported_media_type(ct: &str) -> Self {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml; got {ct}"
            ),
        )
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(403, "Forbidden", message)
    }

    pub fn unauthorized() -> Self {
        ApiError::new(401, "Unauthorized", "Unauthorized")
    }

    /// 422 Invalid with one cause, in the shape the apiserver uses.
    pub fn invalid(
        def: &ResourceDef,
        name: &str,
        field: &str,
        cause_reason: &str,
        detail: &str,
    ) -> Self {
        let msg = format!("{field}: {detail}");
        let mut details = Self::named(def, name);
        details["kind"] = json!(def.kind);
        details["causes"] = json!([{"reason": cause_reason, "message": detail, "field": field}]);
        ApiError::new(
            422,
            "Invalid",
            format!("{} \"{}\" is invalid: {}", def.qualified_kind(), name, msg),
        )
        .with_details(details)
    }

    /// The metav1.Status body.
    pub fn status(&self) -> Value {
        if let Some(b) = &self.body {
            return (**b).clone();
        }
        let mut s = crate::status::failure(
            self.code,
            &self.reason,
            &self.message,
            self.details.as_deref().cloned(),
        );
        if let Some(r) = self.retry_after {
            let d = s
                .as_object_mut()
                .map(|m| m.entry("details").or_insert_with(|| json!({})))
                .and_then(Value::as_object_mut);
            if let Some(d) = d {
                d.insert("retryAfterSeconds".into(), json!(r));
            }
        }
        s
    }
}

/// The simulated clock: wall time plus an offset tests can advance.
#[derive(Default)]
pub struct Clock {
    offset: Mutex<SignedDuration>,
}

impl Clock {
    pub fn now(&self) -> Timestamp {
        let off = *self.offset.lock().unwrap_or_else(|e| e.into_inner());
        Timestamp::now()
            .checked_add(off)
            .unwrap_or_else(|_| Timestamp::now())
    }

    pub fn advance(&self, d: Duration) {
        let mut g = self.offset.lock().unwrap_or_else(|e| e.into_inner());
        let add = SignedDuration::try_from(d).unwrap_or(SignedDuration::ZERO);
        *g = g.checked_add(add).unwrap_or(*g);
    }
}

/// RFC 3339 with second precision, as Kubernetes prints metav1.Time.
pub fn rfc3339(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A random 5-character suffix from the alphabet Kubernetes uses for generateName.
pub fn random_suffix(n: usize) -> String {
    const ALPHA: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let bytes = uuid::Uuid::new_v4().into_bytes();
    bytes
        .iter()
        .take(n)
        .map(|b| ALPHA[(*b as usize) % ALPHA.len()] as char)
        .collect()
}

pub fn name_of(obj: &Value) -> &str {
    obj.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

pub fn namespace_of(obj: &Value) -> &str {
    obj.pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("")
}

pub fn uid_of(obj: &Value) -> &str {
    obj.pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    match obj.get_mut("metadata").and_then(Value::as_object_mut) {
        Some(m) => m,
        None => unreachable!("metadata was just made an object"),
    }
}

fn finalizers(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Validates a DNS-1123 subdomain name (what most resources require; RBAC objects only need a
/// valid path segment).
fn check_name(def: &ResourceDef, name: &str) -> Result<(), ApiError> {
    if def.group == "rbac.authorization.k8s.io" {
        return crate::validation::check_path_segment_name(def, name);
    }
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric();
    if ok {
        return Ok(());
    }
    let detail = format!(
        "Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
    );
    Err(ApiError::invalid(
        def,
        name,
        "metadata.name",
        "FieldValueInvalid",
        &detail,
    ))
}

/// Bumps metadata.generation when anything but metadata and status changed.
fn bump_generation(def: &ResourceDef, old: &Value, new: &mut Value) {
    if !(def.generation || def.crd.is_some()) {
        return;
    }
    let differs = match (old.as_object(), new.as_object()) {
        (Some(a), Some(b)) => {
            let skip = |k: &str| matches!(k, "metadata" | "status" | "apiVersion" | "kind");
            let fa = a.iter().filter(|(k, _)| !skip(k));
            let fb: Vec<_> = b.iter().filter(|(k, _)| !skip(k)).collect();
            let fa: Vec<_> = fa.collect();
            fa != fb
        }
        _ => true,
    };
    if differs {
        let g = old
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        meta_mut(new).insert("generation".into(), json!(g + 1));
    }
}

/// Options of a write request.
#[derive(Default, Clone, Debug)]
pub struct WriteOpts {
    /// `fieldManager`, or the manager derived from the User-Agent.
    pub field_manager: Option<String>,
    pub force: bool,
    pub dry_run: bool,
    /// A server-side apply: managedFields come from the apply itself.
    pub apply: bool,
    /// `fieldValidation=Strict`: unknown fields of custom resources are an error (400) instead
    /// of being pruned.
    pub strict: bool,
}

/// Paths (`spec.foo`) present in `before` and pruned from `after`.
fn pruned_paths(before: &Value, after: &Value, prefix: &str, out: &mut Vec<String>) {
    if let (Some(b), Some(a)) = (before.as_object(), after.as_object()) {
        for (k, bv) in b {
            if prefix.is_empty() && matches!(k.as_str(), "metadata" | "apiVersion" | "kind") {
                continue;
            }
            let path = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match a.get(k) {
                None => out.push(path),
                Some(av) => pruned_paths(bv, av, &path, out),
            }
        }
    } else if let (Some(b), Some(a)) = (before.as_array(), after.as_array()) {
        for (i, (bv, av)) in b.iter().zip(a).enumerate() {
            pruned_paths(bv, av, &format!("{prefix}[{i}]"), out);
        }
    }
}

/// The subresource a write goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Main,
    Status,
}

/// DeleteOptions (body or query).
#[derive(Default, Clone, Debug)]
pub struct DeleteOpts {
    pub grace_period_seconds: Option<i64>,
    pub propagation_policy: Option<String>,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
    pub dry_run: bool,
}

impl DeleteOpts {
    pub fn from_json(v: &Value) -> Self {
        let mut policy = v
            .get("propagationPolicy")
            .and_then(Value::as_str)
            .map(String::from);
        if policy.is_none() {
            match v.get("orphanDependents").and_then(Value::as_bool) {
                Some(true) => policy = Some("Orphan".into()),
                Some(false) => policy = Some("Background".into()),
                None => {}
            }
        }
        DeleteOpts {
            grace_period_seconds: v.get("gracePeriodSeconds").and_then(Value::as_i64),
            propagation_policy: policy,
            precondition_uid: v
                .pointer("/preconditions/uid")
                .and_then(Value::as_str)
                .map(String::from),
            precondition_rv: v
                .pointer("/preconditions/resourceVersion")
                .and_then(Value::as_str)
                .map(String::from),
            dry_run: v
                .get("dryRun")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty()),
        }
    }
}

/// The result of a delete.
pub enum Deleted {
    /// The object is gone (its last state).
    Gone(Arc<Value>),
    /// The object is still there (finalizers, graceful deletion, namespace termination).
    Pending(Arc<Value>),
}

/// Which kubesim-internal controllers behaviours apply to deletes.
#[derive(Clone, Debug, Default)]
pub struct DeleteBehaviour {
    /// The kubelet simulation runs: pods on a node are deleted gracefully.
    pub kubelet: bool,
    /// Precise ends of the grace periods of pods being deleted (see grace.rs).
    pub deadlines: crate::grace::Deadlines,
}

/// Kubernetes semantics over the raw store.
pub struct Api {
    pub store: Arc<Store>,
    pub registry: Arc<Registry>,
    pub clock: Arc<Clock>,
    pub behaviour: Mutex<DeleteBehaviour>,
    /// The cluster CA (PEM) when serving HTTPS: published in every namespace's kube-root-ca.crt.
    pub root_ca: Option<String>,
    /// Container logs a test set (pods/log).
    pub logs: crate::logs::PodLogs,
    /// Permissions used and refused (RBAC on; `access.rs`).
    pub access: crate::access::AccessLog,
}

const RETRIES: usize = 16;

/// A placeholder CA certificate when kubesim serves plain HTTP (nothing verifies it).
const KUBESIM_CA: &str = "-----BEGIN CERTIFICATE-----\nMIIBkubesimPlaceholderCertificateNotForTLS\n-----END CERTIFICATE-----\n";

impl Api {
    pub fn now(&self) -> String {
        rfc3339(self.clock.now())
    }

    fn check_namespace(&self, def: &ResourceDef, ns: &str) -> Result<(), ApiError> {
        if !def.namespaced {
            return Ok(());
        }
        match self.store.get("/namespaces", "", ns) {
            None => Err(ApiError::namespace_not_found(ns)),
            Some(n) if n.pointer("/metadata/deletionTimestamp").is_some() => {
                Err(ApiError::forbidden(format!(
                    "{} \"{}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                    def.qualified(),
                    "",
                ))
                .with_details(json!({"kind": def.plural, "causes": [{"reason": "NamespaceTerminating", "message": format!("namespace {ns} is being terminated"), "field": "metadata.namespace"}]})))
            }
            Some(_) => Ok(()),
        }
    }

    /// Makes `body` an object of `def` at `version`, checking apiVersion/kind and the namespace.
    fn normalize(
        &self,
        def: &ResourceDef,
        version: &str,
        ns: Option<&str>,
        body: &mut Value,
    ) -> Result<(), ApiError> {
        if !body.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request is not a JSON object",
            ));
        }
        let want_av = def.api_version_for(version);
        if let Some(av) = body.get("apiVersion").and_then(Value::as_str)
            && !av.is_empty()
            && av != want_av
        {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({want_av})"
            )));
        }
        if let Some(k) = body.get("kind").and_then(Value::as_str)
            && !k.is_empty()
            && k != def.kind
        {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                def.kind
            )));
        }
        body["apiVersion"] = json!(want_av);
        body["kind"] = json!(def.kind);
        let md = meta_mut(body);
        if def.namespaced {
            let url_ns = ns.unwrap_or("");
            match md.get("namespace").and_then(Value::as_str) {
                None | Some("") => {
                    if url_ns.is_empty() {
                        return Err(ApiError::bad_request(
                            "the namespace of the object is required",
                        ));
                    }
                    md.insert("namespace".into(), json!(url_ns));
                }
                Some(b) if !url_ns.is_empty() && b != url_ns => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                Some(_) => {}
            }
        } else {
            md.remove("namespace");
        }
        Ok(())
    }

    /// Validates and prunes a custom resource against its schema (no-op for built-ins).
    fn validate_custom(
        &self,
        def: &ResourceDef,
        version: &str,
        obj: &mut Value,
        old: Option<&Value>,
        opts: &WriteOpts,
    ) -> Result<(), ApiError> {
        let Some(crd) = &def.crd else {
            return Ok(());
        };
        let Some(schema) = crd.schema(version) else {
            return Ok(());
        };
        let before = opts.strict.then(|| obj.clone());
        crate::schema::prune_and_default(schema, obj);
        if let Some(before) = before {
            let mut unknown = Vec::new();
            pruned_paths(&before, obj, "", &mut unknown);
            if !unknown.is_empty() {
                let list: Vec<String> = unknown
                    .iter()
                    .map(|p| format!("unknown field \"{p}\""))
                    .collect();
                return Err(ApiError::bad_request(format!(
                    "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
                    list.join(", "),
                    kind = def.kind
                )));
            }
        }
        let mut errs = crate::schema::validate(schema, obj);
        if errs.is_empty() {
            errs = crate::schema::validate_cel(schema, obj, old);
        }
        if errs.is_empty() {
            Ok(())
        } else {
            let body = crate::schema::invalid_status(&def.kind, &def.group, name_of(obj), &errs);
            Err(ApiError {
                code: 422,
                reason: "Invalid".into(),
                message: body
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("invalid")
                    .to_string(),
                details: None,
                retry_after: None,
                body: Some(Box::new(body)),
            })
        }
    }

    /// POST: creates `body`.
    pub fn create(
        &self,
        def: &ResourceDef,
        version: &str,
        ns: Option<&str>,
        mut body: Value,
        opts: &WriteOpts,
    ) -> Result<Arc<Value>, ApiError> {
        self.normalize(def, version, ns, &mut body)?;
        let now = self.now();
        let ns = namespace_of(&body).to_string();
        {
            let md = meta_mut(&mut body);
            if md
                .get("resourceVersion")
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty())
            {
                return Err(ApiError::internal(
                    "resourceVersion should not be set on objects to be created",
                ));
            }
            let name = md.get("name").and_then(Value::as_str).unwrap_or("");
            if name.is_empty() {
                match md.get("generateName").and_then(Value::as_str) {
                    Some(g) if !g.is_empty() => {
                        let n = format!("{g}{}", random_suffix(5));
                        md.insert("name".into(), json!(n));
                    }
                    _ => {
                        return Err(ApiError::invalid(
                            def,
                            "",
                            "metadata.name",
                            "FieldValueRequired",
                            "Required value: name or generateName is required",
                        ));
                    }
                }
            }
            md.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
            md.insert("creationTimestamp".into(), json!(now));
            md.remove("deletionTimestamp");
            md.remove("deletionGracePeriodSeconds");
            md.remove("selfLink");
            if def.generation || def.crd.is_some() {
                md.insert("generation".into(), json!(1));
            } else {
                md.remove("generation");
            }
            if !opts.apply {
                md.remove("managedFields");
            }
        }
        let name = name_of(&body).to_string();
        check_name(def, &name)?;
        if def.namespaced {
            self.check_namespace(def, &ns)?;
        }
        // Status is not writable on create for kinds with a status subresource (nodes excepted:
        // the kubelet registers them with a status).
        if def.status
            && def.key() != "/nodes"
            && def.key() != crate::crd::CRD_KEY
            && let Some(m) = body.as_object_mut()
        {
            m.remove("status");
        }
        crate::defaults::apply(def, &mut body, &now);
        if def.key() == crate::events::CORE_KEY {
            crate::events::check_core_write(&mut body, None)?;
        }
        self.validate_custom(def, version, &mut body, None, opts)?;
        if def.key() == crate::crd::CRD_KEY {
            crate::crd::prepare(&mut body, &now).map_err(|e| {
                ApiError::invalid(def, &name, e.field(), "FieldValueInvalid", &e.to_string())
            })?;
        }
        crate::admission::admit_create(self, def, &mut body, opts.dry_run)?;
        if !opts.apply
            && let Some(m) = &opts.field_manager
        {
            let schema = def.crd.as_ref().and_then(|c| c.schema(version));
            crate::ssa::record_update(&mut body, None, m, &now, None, schema);
        }
        if opts.dry_run {
            return Ok(Arc::new(body));
        }
        crate::limits::check_stored(&body)?;
        let created = self.store.create(&def.key(), body).map_err(|e| match e {
            StoreError::AlreadyExists { .. } => ApiError::already_exists(def, &name),
            other => ApiError::internal(other.to_string()),
        })?;
        self.after_write(def, &created);
        Ok(created)
    }

    /// Hooks after a successful write: CRDs are (re)served, namespaces get their default SA.
    fn after_write(&self, def: &ResourceDef, obj: &Value) {
        let key = def.key();
        if key == crate::crd::CRD_KEY {
            if let Ok(d) = crate::crd::resource_def(obj) {
                self.registry.insert(d);
            }
        } else if key == "/namespaces" && obj.pointer("/metadata/deletionTimestamp").is_none() {
            let ns = name_of(obj);
            if self.store.get("/serviceaccounts", ns, "default").is_none() {
                let sa = json!({"apiVersion":"v1","kind":"ServiceAccount","metadata":{
                    "name":"default","namespace":ns,"uid":uuid::Uuid::new_v4().to_string(),
                    "creationTimestamp": self.now()}});
                let _ = self.store.create("/serviceaccounts", sa);
            }
            // The root-ca publisher puts the cluster CA in every namespace.
            if self
                .store
                .get("/configmaps", ns, "kube-root-ca.crt")
                .is_none()
            {
                let cm = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{
                    "name":"kube-root-ca.crt","namespace":ns,"uid":uuid::Uuid::new_v4().to_string(),
                    "creationTimestamp": self.now()},
                    "data": {"ca.crt": self.root_ca.as_deref().unwrap_or(KUBESIM_CA)}});
                let _ = self.store.create("/configmaps", cm);
            }
        }
    }

    /// Computes the stored form of an update of `old` with `new` (the request's object).
    fn merge_update(
        &self,
        def: &ResourceDef,
        version: &str,
        old: &Value,
        mut new: Value,
        target: Target,
        opts: &WriteOpts,
    ) -> Result<Value, ApiError> {
        let name = name_of(old).to_string();
        if target == Target::Status {
            let mut out = old.clone();
            match new.get("status") {
                Some(s) => out["status"] = s.clone(),
                None => {
                    if let Some(m) = out.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
            if let Some(mf) = new.pointer("/metadata/managedFields") {
                meta_mut(&mut out).insert("managedFields".into(), mf.clone());
            }
            out["apiVersion"] = json!(def.api_version_for(version));
            self.validate_custom(def, version, &mut out, Some(old), opts)?;
            return Ok(out);
        }
        // Immutable metadata comes from the stored object.
        let old_md = old.get("metadata").cloned().unwrap_or_else(|| json!({}));
        {
            let md = meta_mut(&mut new);
            for k in [
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
            ] {
                match old_md.get(k) {
                    Some(v) => {
                        md.insert(k.into(), v.clone());
                    }
                    None => {
                        md.remove(k);
                    }
                }
            }
            if md.get("managedFields").is_none()
                && let Some(mf) = old_md.get("managedFields")
            {
                md.insert("managedFields".into(), mf.clone());
            }
            md.remove("selfLink");
        }
        if old.pointer("/metadata/deletionTimestamp").is_some() {
            let old_f = finalizers(old);
            if finalizers(&new).iter().any(|f| !old_f.contains(f)) {
                return Err(ApiError::invalid(
                    def,
                    &name,
                    "metadata.finalizers",
                    "FieldValueForbidden",
                    "Forbidden: no new finalizers can be added if the object is being deleted",
                ));
            }
        }
        if def.status {
            match old.get("status") {
                Some(s) => new["status"] = s.clone(),
                None => {
                    if let Some(m) = new.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
        }
        if def.key() != crate::crd::CRD_KEY {
            let now = self.now();
            crate::defaults::apply(def, &mut new, &now);
        }
        if def.key() == crate::events::CORE_KEY {
            crate::events::check_core_write(&mut new, Some(old))?;
        }
        self.validate_custom(def, version, &mut new, Some(old), opts)?;
        crate::admission::admit_update(self, def, old, &mut new)?;
        bump_generation(def, old, &mut new);
        if def.key() == crate::crd::CRD_KEY {
            let now = self.now();
            crate::crd::prepare(&mut new, &now).map_err(|e| {
                ApiError::invalid(def, &name, e.field(), "FieldValueInvalid", &e.to_string())
            })?;
        }
        Ok(new)
    }

    /// Writes `new` over `old` (precondition: old's resourceVersion); when the object is being
    /// deleted and the last finalizer went away, deletes it instead.
    fn write_update(
        &self,
        def: &ResourceDef,
        old: &Value,
        new: Value,
        dry_run: bool,
    ) -> Result<Result<Arc<Value>, StoreError>, ApiError> {
        if dry_run {
            return Ok(Ok(Arc::new(new)));
        }
        let key = def.key();
        if new.pointer("/metadata/deletionTimestamp").is_some() && finalizers(&new).is_empty() {
            let r = self.store.delete_as(&key, new, Some(rv_of(old)));
            if let Ok(o) = &r {
                self.after_delete(def, o);
            }
            return Ok(r);
        }
        crate::limits::check_stored(&new)?;
        let r = self.store.update(&key, new, Some(rv_of(old)));
        if let Ok(o) = &r {
            self.after_write(def, o);
        }
        Ok(r)
    }

    /// managedFields of a non-apply write: the manager takes the fields it changed (a write
    /// through /status is recorded with `subresource: status`).
    fn record_manager(
        &self,
        def: &ResourceDef,
        version: &str,
        target: Target,
        new: &mut Value,
        old: &Value,
        opts: &WriteOpts,
    ) {
        if opts.apply {
            return;
        }
        if let Some(m) = &opts.field_manager {
            let schema = def.crd.as_ref().and_then(|c| c.schema(version));
            let sub = (target == Target::Status).then_some("status");
            crate::ssa::record_update(new, Some(old), m, &self.now(), sub, schema);
        }
    }

    /// PUT (main resource or /status).
    #[allow(clippy::too_many_arguments)] // the request's coordinates, as the REST path has them
    pub fn update(
        &self,
        def: &ResourceDef,
        version: &str,
        ns: Option<&str>,
        name: &str,
        mut body: Value,
        target: Target,
        opts: &WriteOpts,
    ) -> Result<Arc<Value>, ApiError> {
        self.normalize(def, version, ns, &mut body)?;
        let body_name = name_of(&body);
        if body_name.is_empty() {
            meta_mut(&mut body).insert("name".into(), json!(name));
        } else if body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        let want_rv: Option<u64> = body
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<u64>()
                    .map_err(|_| ApiError::bad_request(format!("invalid resource version: {s}")))
            })
            .transpose()?;
        let ns_s = ns.unwrap_or("");
        for _ in 0..RETRIES {
            let Some(old) = self.store.get(&def.key(), ns_s, name) else {
                return Err(ApiError::not_found(def, name));
            };
            if let Some(w) = want_rv
                && w != rv_of(&old)
            {
                return Err(ApiError::modified(def, name));
            }
            let mut new = self.merge_update(def, version, &old, body.clone(), target, opts)?;
            self.record_manager(def, version, target, &mut new, &old, opts);
            match self.write_update(def, &old, new, opts.dry_run)? {
                Ok(o) => return Ok(o),
                Err(StoreError::Conflict { .. }) => continue,
                Err(StoreError::NotFound { .. }) => return Err(ApiError::not_found(def, name)),
                Err(e) => return Err(ApiError::internal(e.to_string())),
            }
        }
        Err(ApiError::modified(def, name))
    }

    /// PATCH with an already-decoded patch function over the stored object. `f` returns the
    /// patched object. For server-side apply on a missing object, `create_with` gives the object
    /// to create.
    #[allow(clippy::too_many_arguments)] // the request's coordinates, as the REST path has them
    pub fn patch(
        &self,
        def: &ResourceDef,
        version: &str,
        ns: Option<&str>,
        name: &str,
        target: Target,
        opts: &WriteOpts,
        f: &dyn Fn(Option<&Value>) -> Result<Value, ApiError>,
    ) -> Result<Arc<Value>, ApiError> {
        let ns_s = ns.unwrap_or("");
        for _ in 0..RETRIES {
            let Some(old) = self.store.get(&def.key(), ns_s, name) else {
                let created = f(None)?;
                return self.create(def, version, ns, created, opts);
            };
            let mut view = (*old).clone();
            view["apiVersion"] = json!(def.api_version_for(version));
            let mut new = f(Some(&view))?;
            if !new.is_object() {
                return Err(ApiError::bad_request(
                    "the patched object is not a JSON object",
                ));
            }
            if name_of(&new) != name {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({}) does not match the name on the URL ({name})",
                    name_of(&new)
                )));
            }
            let new_rv = new
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if !new_rv.is_empty() && new_rv != rv_of(&old).to_string() {
                return Err(ApiError::modified(def, name));
            }
            self.normalize(def, version, ns, &mut new)?;
            let mut new = self.merge_update(def, version, &old, new, target, opts)?;
            self.record_manager(def, version, target, &mut new, &old, opts);
            match self.write_update(def, &old, new, opts.dry_run)? {
                Ok(o) => return Ok(o),
                Err(StoreError::Conflict { .. }) => continue,
                Err(StoreError::NotFound { .. }) => return Err(ApiError::not_found(def, name)),
                Err(e) => return Err(ApiError::internal(e.to_string())),
            }
        }
        Err(ApiError::modified(def, name))
    }

    /// An update issued by a simulated controller: the whole object (spec and status) as the
    /// controller computed it from what it read. Returns whether anything changed; a stale read
    /// or a vanished object is dropped (the next reconcile pass recomputes).
    pub fn controller_update(&self, def: &ResourceDef, mut new: Value) -> Result<bool, ApiError> {
        let ns = namespace_of(&new).to_string();
        let name = name_of(&new).to_string();
        let Some(old) = self.store.get(&def.key(), &ns, &name) else {
            return Ok(false);
        };
        let expected = rv_of(&new);
        if expected != 0 && expected != rv_of(&old) {
            return Ok(false);
        }
        {
            let old_md = old.get("metadata").cloned().unwrap_or_else(|| json!({}));
            let md = meta_mut(&mut new);
            for k in ["uid", "creationTimestamp", "generation"] {
                if let Some(v) = old_md.get(k) {
                    md.insert(k.into(), v.clone());
                }
            }
        }
        bump_generation(def, &old, &mut new);
        match self.write_update(def, &old, new, false)? {
            Ok(o) => Ok(rv_of(&o) != rv_of(&old)),
            Err(_) => Ok(false),
        }
    }

    /// DELETE.
    pub fn delete(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        name: &str,
        opts: &DeleteOpts,
    ) -> Result<Deleted, ApiError> {
        let key = def.key();
        let ns_s = ns.unwrap_or("");
        for _ in 0..RETRIES {
            let Some(old) = self.store.get(&key, ns_s, name) else {
                return Err(ApiError::not_found(def, name));
            };
            if let Some(u) = &opts.precondition_uid
                && u != uid_of(&old)
            {
                return Err(ApiError::conflict(
                    def,
                    name,
                    &format!(
                        "Precondition failed: UID in precondition: {u}, UID in object meta: {}",
                        uid_of(&old)
                    ),
                ));
            }
            if let Some(r) = &opts.precondition_rv
                && *r != rv_of(&old).to_string()
            {
                return Err(ApiError::conflict(
                    def,
                    name,
                    &format!(
                        "Precondition failed: ResourceVersion in precondition: {r}, ResourceVersion in object meta: {}",
                        rv_of(&old)
                    ),
                ));
            }
            if opts.dry_run {
                return Ok(Deleted::Pending(old));
            }
            let policy = opts.propagation_policy.as_deref().unwrap_or("Background");
            let now = self.now();
            let mut new = (*old).clone();
            let deleting = old.pointer("/metadata/deletionTimestamp").is_some();
            let mut fins = finalizers(&old);
            let mut pending = false;
            match policy {
                "Foreground" => {
                    if !fins.iter().any(|f| f == "foregroundDeletion") {
                        fins.push("foregroundDeletion".into());
                    }
                    pending = true;
                }
                "Orphan" => {
                    self.orphan_dependents(uid_of(&old));
                }
                "Background" => {}
                other => {
                    return Err(ApiError::invalid(
                        def,
                        name,
                        "propagationPolicy",
                        "FieldValueNotSupported",
                        &format!(
                            "Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\""
                        ),
                    ));
                }
            }
            if !fins.is_empty() {
                pending = true;
            }
            if key == "/namespaces" {
                pending = true;
                new["status"] = json!({"phase": "Terminating"});
            }
            // Pods: graceful deletion (see grace.rs); every other kind has grace 0.
            let mut grace = 0;
            let mut deadline = None;
            if key == "/pods" {
                let (kubelet, precise) = self
                    .behaviour
                    .lock()
                    .map(|b| (b.kubelet, b.deadlines.get(uid_of(&old))))
                    .unwrap_or((false, None));
                match crate::grace::pod_delete(
                    &old,
                    opts.grace_period_seconds,
                    kubelet,
                    self.clock.now(),
                    precise,
                ) {
                    crate::grace::PodDelete::Pending => return Ok(Deleted::Pending(old)),
                    crate::grace::PodDelete::Now => {}
                    crate::grace::PodDelete::Graceful {
                        deadline: d,
                        grace: g,
                    } => {
                        grace = g;
                        deadline = Some(d);
                        pending = true;
                    }
                }
            }
            if !pending {
                match self.store.delete(&key, ns_s, name, Some(rv_of(&old))) {
                    Ok(o) => {
                        self.after_delete(def, &o);
                        return Ok(Deleted::Gone(o));
                    }
                    Err(StoreError::Conflict { .. }) => continue,
                    Err(StoreError::NotFound { .. }) => return Err(ApiError::not_found(def, name)),
                    Err(e) => return Err(ApiError::internal(e.to_string())),
                }
            }
            {
                let md = meta_mut(&mut new);
                if let Some(d) = deadline {
                    // A new or shortened graceful deletion of a pod.
                    md.insert("deletionTimestamp".into(), json!(rfc3339(d)));
                    md.insert("deletionGracePeriodSeconds".into(), json!(grace));
                    if !deleting && let Some(g) = md.get("generation").and_then(Value::as_i64) {
                        md.insert("generation".into(), json!(g + 1));
                    }
                } else if !deleting
                    || (key == "/pods"
                        && old
                            .pointer("/metadata/deletionGracePeriodSeconds")
                            .and_then(Value::as_i64)
                            .unwrap_or(0)
                            != 0)
                {
                    // Marked as deleting because of finalizers (for a pod: grace 0).
                    md.insert("deletionTimestamp".into(), json!(now));
                    md.insert("deletionGracePeriodSeconds".into(), json!(0));
                }
                if !fins.is_empty() {
                    md.insert("finalizers".into(), json!(fins));
                }
            }
            match self.store.update(&key, new, Some(rv_of(&old))) {
                Ok(o) => {
                    if let (Some(d), Ok(mut b)) = (deadline, self.behaviour.lock()) {
                        b.deadlines.set(uid_of(&o), d);
                    }
                    return Ok(Deleted::Pending(o));
                }
                Err(StoreError::Conflict { .. }) => continue,
                Err(StoreError::NotFound { .. }) => return Err(ApiError::not_found(def, name)),
                Err(e) => return Err(ApiError::internal(e.to_string())),
            }
        }
        Err(ApiError::modified(def, name))
    }

    /// Hooks after a delete: CRDs stop being served (and their objects go away).
    fn after_delete(&self, def: &ResourceDef, obj: &Value) {
        if def.key() == crate::crd::CRD_KEY
            && let Ok(d) = crate::crd::resource_def(obj)
        {
            let k = d.key();
            self.store.delete_all(&k);
            self.registry.remove(&k);
        }
    }

    /// Removes ownerReferences to `owner_uid` from every object (propagationPolicy=Orphan).
    pub fn orphan_dependents(&self, owner_uid: &str) {
        for (key, objs) in self.store.snapshot_objects(None) {
            for o in objs {
                let Some(refs) = o
                    .pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                else {
                    continue;
                };
                if !refs
                    .iter()
                    .any(|r| r.get("uid").and_then(Value::as_str) == Some(owner_uid))
                {
                    continue;
                }
                let kept: Vec<Value> = refs
                    .iter()
                    .filter(|r| r.get("uid").and_then(Value::as_str) != Some(owner_uid))
                    .cloned()
                    .collect();
                let mut new = (*o).clone();
                let md = meta_mut(&mut new);
                if kept.is_empty() {
                    md.remove("ownerReferences");
                } else {
                    md.insert("ownerReferences".into(), json!(kept));
                }
                let _ = self.store.update(&key, new, Some(rv_of(&o)));
            }
        }
    }

    /// Removes a finalizer from an object (used by the driver's foreground and namespace passes).
    pub fn remove_finalizer(&self, key: &str, obj: &Value, finalizer: &str) {
        let Some(def) = self.registry.get(key) else {
            return;
        };
        let mut new = obj.clone();
        let fins: Vec<String> = finalizers(obj)
            .into_iter()
            .filter(|f| f != finalizer)
            .collect();
        let md = meta_mut(&mut new);
        if fins.is_empty() {
            md.remove("finalizers");
        } else {
            md.insert("finalizers".into(), json!(fins));
        }
        let _ = self.write_update(&def, obj, new, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_shapes() {
        let r = Registry::with_builtins();
        let d = r.get("apps/deployments").expect("deployments");
        let s = ApiError::not_found(&d, "web").status();
        assert_eq!(s["message"], "deployments.apps \"web\" not found");
        assert_eq!(s["details"]["group"], "apps");
        assert_eq!(s["code"], 404);
        let c = ApiError::modified(&d, "web").status();
        assert_eq!(
            c["message"],
            "Operation cannot be fulfilled on deployments.apps \"web\": the object has been modified; please apply your changes to the latest version and try again"
        );
        let mut t = ApiError::new(429, "TooManyRequests", "slow down");
        t.retry_after = Some(3);
        assert_eq!(t.status()["details"]["retryAfterSeconds"], 3);
    }

    #[test]
    fn suffix_and_time() {
        let s = random_suffix(5);
        assert_eq!(s.len(), 5);
        let ts: Timestamp = "2026-01-02T03:04:05.678Z".parse().expect("ts");
        assert_eq!(rfc3339(ts), "2026-01-02T03:04:05Z");
    }
}
