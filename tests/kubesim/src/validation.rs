//! Defaulting and validation of the built-in objects cryptojack writes, after the apiserver's
//! (pkg/apis/networking/{v1/defaults.go,validation}, pkg/apis/core/validation (ResourceQuota),
//! pkg/apis/rbac/{v1/defaults.go,validation}), with the apiserver's 422 Invalid Status
//! (`<Kind>.<group> "name" is invalid: <field>: <detail>`, `details.causes` with field paths).
//!
//! Modelled: NetworkPolicy (ports: protocol, port numbers and names, `endPort` rules; peers: one
//! of the selectors or an ipBlock, CIDRs and `except` subsets; label selectors; `policyTypes`),
//! ResourceQuota (resource names, non-negative and integer quantities, scopes and scope
//! selectors), Role/ClusterRole rules, RoleBinding/ClusterRoleBinding (roleRef, subjects, roleRef
//! immutable on update), and the v1 defaults of those kinds (port protocol TCP, policyTypes,
//! roleRef/subject apiGroups). CIDRs are validated as Kubernetes 1.33 does by default
//! (`StrictIPCIDRValidation` off: leading zeros and bits beyond the prefix are accepted).
//! Bad values are printed as the apiserver prints them (`field.Error.ErrorBody`: strings quoted,
//! numbers plain, other types as Go's `%#v`).

use std::net::IpAddr;

use serde_json::{Value, json};

use crate::api::{ApiError, name_of};
use crate::resources::ResourceDef;

const RBAC: &str = "rbac.authorization.k8s.io";

/// One `field.Error`: the path, the cause reason and the error body (`Invalid value: 9000: ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldErr {
    pub field: String,
    pub reason: &'static str,
    pub body: String,
}

impl FieldErr {
    fn invalid(field: &str, value: &str, detail: &str) -> Self {
        FieldErr {
            field: field.into(),
            reason: "FieldValueInvalid",
            body: format!("Invalid value: {value}: {detail}"),
        }
    }

    fn required(field: &str, detail: &str) -> Self {
        FieldErr {
            field: field.into(),
            reason: "FieldValueRequired",
            body: if detail.is_empty() {
                "Required value".into()
            } else {
                format!("Required value: {detail}")
            },
        }
    }

    fn forbidden(field: &str, detail: &str) -> Self {
        FieldErr {
            field: field.into(),
            reason: "FieldValueForbidden",
            body: format!("Forbidden: {detail}"),
        }
    }

    fn not_supported(field: &str, value: &str, supported: &[&str]) -> Self {
        let list: Vec<String> = supported.iter().map(|s| q(s)).collect();
        FieldErr {
            field: field.into(),
            reason: "FieldValueNotSupported",
            body: format!(
                "Unsupported value: {value}: supported values: {}",
                list.join(", ")
            ),
        }
    }
}

/// Go's `%q`.
fn q(s: &str) -> String {
    format!("{s:?}")
}

/// Go's `%#v` of a slice of a string type (`[]string{"a", "b"}`, `[]string(nil)` when empty:
/// an absent list decodes to nil).
fn go_slice(type_name: &str, v: &[String]) -> String {
    if v.is_empty() {
        return format!("{type_name}(nil)");
    }
    let items: Vec<String> = v.iter().map(|s| q(s)).collect();
    format!("{type_name}{{{}}}", items.join(", "))
}

/// `validation.IsDNS1123Subdomain`.
fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            let b = label.as_bytes();
            let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
            !b.is_empty()
                && b.first().is_some_and(alnum)
                && b.last().is_some_and(alnum)
                && b.iter().all(|c| alnum(c) || *c == b'-')
        })
}

/// Go's `%#v` of a `core.ScopeSelector`.
fn go_scope_selector(sel: &Value) -> String {
    let reqs: Vec<String> = array(sel, "matchExpressions")
        .iter()
        .map(|e| {
            format!(
                "core.ScopedResourceSelectorRequirement{{ScopeName:{}, Operator:{}, Values:{}}}",
                q(str_of(e, "scopeName")),
                q(str_of(e, "operator")),
                go_slice("[]string", &strs(e.get("values")))
            )
        })
        .collect();
    let list = if reqs.is_empty() {
        "[]core.ScopedResourceSelectorRequirement(nil)".to_string()
    } else {
        format!(
            "[]core.ScopedResourceSelectorRequirement{{{}}}",
            reqs.join(", ")
        )
    };
    format!("core.ScopeSelector{{MatchExpressions:{list}}}")
}

/// The 422 Invalid for `errors` on `obj`, as `errors.NewInvalid` builds it.
pub fn invalid_error(def: &ResourceDef, name: &str, errors: &[FieldErr]) -> ApiError {
    let qualified = def.qualified_kind();
    let mut msgs: Vec<String> = Vec::new();
    for e in errors {
        let m = format!("{}: {}", e.field, e.body);
        if !msgs.contains(&m) {
            msgs.push(m);
        }
    }
    let message = match msgs.as_slice() {
        [one] => format!("{qualified} {name:?} is invalid: {one}"),
        many => format!("{qualified} {name:?} is invalid: [{}]", many.join(", ")),
    };
    let causes: Vec<Value> = errors
        .iter()
        .map(|e| json!({"reason": e.reason, "message": e.body, "field": e.field}))
        .collect();
    let body = crate::status::failure(
        422,
        "Invalid",
        &message,
        Some(json!({"name": name, "group": def.group, "kind": def.kind, "causes": causes})),
    );
    let mut e = ApiError::new(422, "Invalid", message);
    e.body = Some(Box::new(body));
    e
}

/// `path.IsValidPathSegmentName` (the names of RBAC objects, e.g. `system:aggregate-to-view`).
pub fn check_path_segment_name(def: &ResourceDef, name: &str) -> Result<(), ApiError> {
    if name.is_empty() {
        return Err(invalid_error(
            def,
            name,
            &[FieldErr::required(
                "metadata.name",
                "name or generateName is required",
            )],
        ));
    }
    let errs: Vec<FieldErr> = path_segment_errors(name)
        .into_iter()
        .map(|m| FieldErr::invalid("metadata.name", &q(name), m))
        .collect();
    if errs.is_empty() {
        Ok(())
    } else {
        Err(invalid_error(def, name, &errs))
    }
}

fn path_segment_errors(name: &str) -> Vec<&'static str> {
    let mut out = Vec::new();
    if name == "." {
        out.push("may not be '.'");
    } else if name == ".." {
        out.push("may not be '..'");
    }
    if name.contains('/') {
        out.push("may not contain '/'");
    }
    if name.contains('%') {
        out.push("may not contain '%'");
    }
    out
}

fn strs(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

fn array<'a>(v: &'a Value, k: &str) -> &'a [Value] {
    v.get(k)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn present(v: &Value, k: &str) -> bool {
    v.get(k).is_some_and(|x| !x.is_null())
}

// ---------------------------------------------------------------------------------- defaults

/// The v1 defaults of the kinds validated here (applied on create and update, before the checks).
pub fn apply_defaults(def: &ResourceDef, obj: &mut Value) {
    match (def.group.as_str(), def.plural.as_str()) {
        ("networking.k8s.io", "networkpolicies") => default_network_policy(obj),
        (RBAC, "rolebindings" | "clusterrolebindings") => default_binding(obj),
        _ => {}
    }
}

/// `SetDefaults_NetworkPolicyPort` (protocol TCP) and `SetDefaults_NetworkPolicy` (policyTypes:
/// Ingress, plus Egress when there are egress rules).
fn default_network_policy(obj: &mut Value) {
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    for dir in ["ingress", "egress"] {
        if let Some(rules) = spec.get_mut(dir).and_then(Value::as_array_mut) {
            for r in rules {
                if let Some(ports) = r.get_mut("ports").and_then(Value::as_array_mut) {
                    for p in ports {
                        if let Some(m) = p.as_object_mut()
                            && m.get("protocol").is_none_or(Value::is_null)
                        {
                            m.insert("protocol".into(), json!("TCP"));
                        }
                    }
                }
            }
        }
    }
    if spec
        .get("policyTypes")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        let mut types = vec![json!("Ingress")];
        if spec
            .get("egress")
            .and_then(Value::as_array)
            .is_some_and(|e| !e.is_empty())
        {
            types.push(json!("Egress"));
        }
        spec.insert("policyTypes".into(), Value::Array(types));
    }
}

/// `SetDefaults_RoleBinding`/`SetDefaults_Subject`: roleRef.apiGroup and User/Group subjects'
/// apiGroup default to rbac.authorization.k8s.io.
fn default_binding(obj: &mut Value) {
    if let Some(rr) = obj.get_mut("roleRef").and_then(Value::as_object_mut)
        && rr
            .get("apiGroup")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
    {
        rr.insert("apiGroup".into(), json!(RBAC));
    }
    if let Some(subjects) = obj.get_mut("subjects").and_then(Value::as_array_mut) {
        for s in subjects {
            let kind = s
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if let Some(m) = s.as_object_mut()
                && m.get("apiGroup")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
            {
                match kind.as_str() {
                    // "" is Go's zero value: `omitempty` leaves it out of the stored JSON
                    "ServiceAccount" => {
                        m.remove("apiGroup");
                    }
                    "User" | "Group" => {
                        m.insert("apiGroup".into(), json!(RBAC));
                    }
                    _ => {}
                }
            }
        }
    }
}

// -------------------------------------------------------------------------------- validation

/// Validates a create (`old` None) or update of `obj`: Err(422) with every error found.
pub fn validate(def: &ResourceDef, obj: &Value, old: Option<&Value>) -> Result<(), ApiError> {
    let errs = match (def.group.as_str(), def.plural.as_str()) {
        ("networking.k8s.io", "networkpolicies") => network_policy(obj, old),
        ("", "resourcequotas") => resource_quota(obj),
        (RBAC, "roles") => roles(obj, true),
        (RBAC, "clusterroles") => roles(obj, false),
        (RBAC, "rolebindings") => binding(obj, old, true),
        (RBAC, "clusterrolebindings") => binding(obj, old, false),
        _ => Vec::new(),
    };
    if errs.is_empty() {
        Ok(())
    } else {
        Err(invalid_error(def, name_of(obj), &errs))
    }
}

// ------------------------------------------------------------------ label selectors, names

/// `validation.IsQualifiedName`.
fn qualified_name_errors(s: &str) -> Vec<String> {
    crate::selector::validate_label_key(s)
        .err()
        .into_iter()
        .collect()
}

/// `metav1validation.ValidateLabelSelector`.
fn label_selector(sel: &Value, path: &str, out: &mut Vec<FieldErr>) {
    if !sel.is_object() {
        return;
    }
    if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
        let p = format!("{path}.matchLabels");
        for (k, v) in m {
            for msg in qualified_name_errors(k) {
                out.push(FieldErr::invalid(&p, &q(k), &msg));
            }
            let v = v.as_str().unwrap_or("");
            if let Err(msg) = crate::selector::validate_label_value(v) {
                out.push(FieldErr::invalid(&p, &q(v), &msg));
            }
        }
    }
    for (i, e) in array(sel, "matchExpressions").iter().enumerate() {
        let p = format!("{path}.matchExpressions[{i}]");
        let values = strs(e.get("values"));
        match str_of(e, "operator") {
            "In" | "NotIn" => {
                if values.is_empty() {
                    out.push(FieldErr::required(
                        &format!("{p}.values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    out.push(FieldErr::forbidden(
                        &format!("{p}.values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            other => out.push(FieldErr::invalid(
                &format!("{p}.operator"),
                &q(other),
                "not a valid selector operator",
            )),
        }
        let key = str_of(e, "key");
        for msg in qualified_name_errors(key) {
            out.push(FieldErr::invalid(&format!("{p}.key"), &q(key), &msg));
        }
        for (j, v) in values.iter().enumerate() {
            if let Err(msg) = crate::selector::validate_label_value(v) {
                out.push(FieldErr::invalid(&format!("{p}.values[{j}]"), &q(v), &msg));
            }
        }
    }
}

// ------------------------------------------------------------------------------ NetworkPolicy

/// `validation.IsValidPortNum`.
fn port_num_errors(n: i64) -> Option<&'static str> {
    (!(1..=65535).contains(&n)).then_some("must be between 1 and 65535, inclusive")
}

/// `validation.IsValidPortName` (an IANA service name).
fn port_name_errors(s: &str) -> Vec<&'static str> {
    let mut out = Vec::new();
    if s.len() > 15 {
        out.push("must be no more than 15 characters");
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        out.push("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)");
    }
    if !s.bytes().any(|b| b.is_ascii_lowercase()) {
        out.push("must contain at least one letter (a-z)");
    }
    if s.contains("--") {
        out.push("must not contain consecutive hyphens");
    }
    if s.starts_with('-') || s.ends_with('-') {
        out.push("must not begin or end with a hyphen");
    }
    out
}

/// `ValidateNetworkPolicyPort`.
fn np_port(port: &Value, path: &str, out: &mut Vec<FieldErr>) {
    if let Some(p) = port.get("protocol").and_then(Value::as_str)
        && !matches!(p, "TCP" | "UDP" | "SCTP")
    {
        out.push(FieldErr::not_supported(
            &format!("{path}.protocol"),
            &q(p),
            &["TCP", "UDP", "SCTP"],
        ));
    }
    let end = port.get("endPort").and_then(Value::as_i64);
    match port.get("port") {
        Some(Value::Number(n)) => {
            let n = n.as_i64().unwrap_or(0);
            if let Some(m) = port_num_errors(n) {
                out.push(FieldErr::invalid(
                    &format!("{path}.port"),
                    &n.to_string(),
                    m,
                ));
            }
            if let Some(e) = end {
                let ep = format!("{path}.endPort");
                if e < n {
                    out.push(FieldErr::invalid(
                        &ep,
                        &e.to_string(),
                        "must be greater than or equal to `port`",
                    ));
                }
                if let Some(m) = port_num_errors(e) {
                    out.push(FieldErr::invalid(&ep, &e.to_string(), m));
                }
            }
        }
        Some(Value::String(s)) => {
            if let Some(e) = end {
                out.push(FieldErr::invalid(
                    &format!("{path}.endPort"),
                    &e.to_string(),
                    "may not be specified when `port` is non-numeric",
                ));
            }
            for m in port_name_errors(s) {
                out.push(FieldErr::invalid(&format!("{path}.port"), &q(s), m));
            }
        }
        _ => {
            if let Some(e) = end {
                out.push(FieldErr::invalid(
                    &format!("{path}.endPort"),
                    &e.to_string(),
                    "may not be specified when `port` is not specified",
                ));
            }
        }
    }
}

/// `netutils.ParseCIDRSloppy`: (network address, prefix length, address bits).
fn parse_cidr_sloppy(s: &str) -> Option<(IpAddr, u32, u32)> {
    let (ip, len) = s.split_once('/')?;
    if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) || len.len() > 3 {
        return None;
    }
    let len: u32 = len.parse().ok()?;
    let ip = parse_ip_sloppy(ip)?;
    let bits = if ip.is_ipv4() { 32 } else { 128 };
    if len > bits {
        return None;
    }
    let net = match ip {
        IpAddr::V4(v4) => {
            let m = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            IpAddr::V4((u32::from(v4) & m).into())
        }
        IpAddr::V6(v6) => {
            let m = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            IpAddr::V6((u128::from(v6) & m).into())
        }
    };
    Some((net, len, bits))
}

/// `netutils.ParseIPSloppy`: IPv4 octets may have leading zeros (read as decimal).
fn parse_ip_sloppy(s: &str) -> Option<IpAddr> {
    if s.contains(':') {
        return s.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6);
    }
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut octets = [0u8; 4];
    for (o, p) in octets.iter_mut().zip(&parts) {
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *o = p.parse().ok()?;
    }
    Some(IpAddr::from(octets))
}

fn cidr_contains(net: &(IpAddr, u32, u32), ip: &IpAddr) -> bool {
    match (net.0, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let m = if net.1 == 0 {
                0
            } else {
                u32::MAX << (32 - net.1)
            };
            u32::from(*i) & m == u32::from(n)
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let m = if net.1 == 0 {
                0
            } else {
                u128::MAX << (128 - net.1)
            };
            u128::from(*i) & m == u128::from(n)
        }
        _ => false,
    }
}

const CIDR_MSG: &str = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)";

/// `ValidateIPBlock` (values present in the old object are not re-validated).
fn ip_block(b: &Value, path: &str, allowed: &[String], out: &mut Vec<FieldErr>) {
    let cidr = str_of(b, "cidr");
    if cidr.is_empty() {
        out.push(FieldErr::required(&format!("{path}.cidr"), ""));
        return;
    }
    let parsed = parse_cidr_sloppy(cidr);
    if parsed.is_none() && !allowed.iter().any(|a| a == cidr) {
        out.push(FieldErr::invalid(
            &format!("{path}.cidr"),
            &q(cidr),
            CIDR_MSG,
        ));
    }
    let Some(net) = parsed else {
        return;
    };
    for (i, ex) in strs(b.get("except")).iter().enumerate() {
        let p = format!("{path}.except[{i}]");
        let Some(e) = parse_cidr_sloppy(ex) else {
            if !allowed.iter().any(|a| a == ex) {
                out.push(FieldErr::invalid(&p, &q(ex), CIDR_MSG));
            }
            continue;
        };
        if !cidr_contains(&net, &e.0) || net.1 >= e.1 {
            out.push(FieldErr::invalid(
                &p,
                &q(ex),
                "must be a strict subset of `cidr`",
            ));
        }
    }
}

/// `ValidateNetworkPolicyPeer`.
fn np_peer(peer: &Value, path: &str, allowed: &[String], out: &mut Vec<FieldErr>) {
    let mut n = 0;
    if present(peer, "podSelector") {
        n += 1;
        label_selector(&peer["podSelector"], &format!("{path}.podSelector"), out);
    }
    if present(peer, "namespaceSelector") {
        n += 1;
        label_selector(
            &peer["namespaceSelector"],
            &format!("{path}.namespaceSelector"),
            out,
        );
    }
    if present(peer, "ipBlock") {
        n += 1;
        ip_block(&peer["ipBlock"], &format!("{path}.ipBlock"), allowed, out);
    }
    if n == 0 {
        out.push(FieldErr::required(path, "must specify a peer"));
    } else if n > 1 && present(peer, "ipBlock") {
        out.push(FieldErr::forbidden(
            path,
            "may not specify both ipBlock and another peer",
        ));
    }
}

/// Every CIDR of a NetworkPolicy (`ValidateNetworkPolicyUpdate`'s allowance).
fn cidrs_of(np: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let spec = np.get("spec").cloned().unwrap_or(Value::Null);
    for (dir, peers) in [("ingress", "from"), ("egress", "to")] {
        for r in array(&spec, dir) {
            for p in array(r, peers) {
                if let Some(b) = p.get("ipBlock") {
                    out.push(str_of(b, "cidr").to_string());
                    out.extend(strs(b.get("except")));
                }
            }
        }
    }
    out
}

/// `ValidateNetworkPolicy` / `ValidateNetworkPolicyUpdate`.
fn network_policy(np: &Value, old: Option<&Value>) -> Vec<FieldErr> {
    let mut out = Vec::new();
    let allowed = old.map(cidrs_of).unwrap_or_default();
    let spec = np.get("spec").cloned().unwrap_or_else(|| json!({}));
    if let Some(sel) = spec.get("podSelector") {
        label_selector(sel, "spec.podSelector", &mut out);
    }
    for (dir, peers) in [("ingress", "from"), ("egress", "to")] {
        for (i, rule) in array(&spec, dir).iter().enumerate() {
            let rp = format!("spec.{dir}[{i}]");
            for (j, port) in array(rule, "ports").iter().enumerate() {
                np_port(port, &format!("{rp}.ports[{j}]"), &mut out);
            }
            for (j, peer) in array(rule, peers).iter().enumerate() {
                np_peer(peer, &format!("{rp}.{peers}[{j}]"), &allowed, &mut out);
            }
        }
    }
    let types = strs(spec.get("policyTypes"));
    if types.len() > 2 {
        out.push(FieldErr::invalid(
            "spec.policyTypes",
            &format!("&{}", go_slice("[]networking.PolicyType", &types)),
            "may not specify more than two policyTypes",
        ));
        return out;
    }
    for (i, t) in types.iter().enumerate() {
        if t != "Ingress" && t != "Egress" {
            out.push(FieldErr::not_supported(
                &format!("spec.policyTypes[{i}]"),
                &q(t),
                &["Ingress", "Egress"],
            ));
        }
    }
    out
}

// ------------------------------------------------------------------------------ ResourceQuota

const STANDARD_RESOURCES: &[&str] = &[
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
    "resourcequotas",
    "services",
    "replicationcontrollers",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "storage",
    "requests.storage",
    "services.nodeports",
    "services.loadbalancers",
];

const STANDARD_QUOTA_RESOURCES: &[&str] = &[
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.storage",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
    "resourcequotas",
    "services",
    "replicationcontrollers",
    "secrets",
    "persistentvolumeclaims",
    "configmaps",
    "services.nodeports",
    "services.loadbalancers",
];

const INTEGER_RESOURCES: &[&str] = &[
    "pods",
    "resourcequotas",
    "services",
    "replicationcontrollers",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "services.nodeports",
    "services.loadbalancers",
];

fn is_hugepages(r: &str) -> bool {
    r.starts_with("hugepages-") || r.starts_with("requests.hugepages-")
}

/// `IsExtendedResourceName` (as validation uses it: `requests.<name>` must be qualified too).
fn is_extended(r: &str) -> bool {
    crate::quota::is_extended_resource_name(r)
        && crate::selector::validate_label_key(&format!("requests.{r}")).is_ok()
}

/// `ValidateResourceQuotaResourceName`.
fn quota_resource_name(r: &str, path: &str, out: &mut Vec<FieldErr>) {
    let errs = qualified_name_errors(r);
    if !errs.is_empty() {
        for m in errs {
            out.push(FieldErr::invalid(path, &q(r), &m));
        }
    } else if !r.contains('/') && !STANDARD_RESOURCES.contains(&r) && !is_hugepages(r) {
        out.push(FieldErr::invalid(
            path,
            &q(r),
            "must be a standard resource type or fully qualified",
        ));
    }
    if !r.contains('/') && !STANDARD_QUOTA_RESOURCES.contains(&r) && !is_hugepages(r) {
        out.push(FieldErr::invalid(
            path,
            &q(r),
            "must be a standard resource for quota",
        ));
    }
}

/// Go's `%#v` of a `resource.Quantity` decoded from `s` (how the apiserver prints one as a bad
/// value): `resource.Quantity{i:resource.int64Amount{value:1500, scale:-3}, ...}`.
fn go_quantity(s: &str, qty: &crate::quantity::Quantity) -> String {
    let format = match qty.format {
        crate::quantity::Format::BinarySI => "BinarySI",
        crate::quantity::Format::DecimalExponent => "DecimalExponent",
        crate::quantity::Format::DecimalSI => "DecimalSI",
    };
    // value × 10^scale in the smallest integer form of the nano-units.
    let mut value = qty.nanos();
    let mut scale = -9;
    while value != 0 && value % 10 == 0 && scale < 0 {
        value /= 10;
        scale += 1;
    }
    format!(
        "resource.Quantity{{i:resource.int64Amount{{value:{value}, scale:{scale}}}, d:resource.infDecAmount{{Dec:(*inf.Dec)(nil)}}, s:{}, Format:{format:?}}}",
        q(s)
    )
}

/// `ValidateResourceQuota` (spec).
fn resource_quota(rq: &Value) -> Vec<FieldErr> {
    let mut out = Vec::new();
    let spec = rq.get("spec").cloned().unwrap_or_else(|| json!({}));
    let hard = spec
        .get("hard")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (k, v) in &hard {
        let path = format!("spec.hard[{k}]");
        quota_resource_name(k, &path, &mut out);
        match crate::quantity::from_json(v) {
            Err(e) => out.push(FieldErr::invalid(&path, &v.to_string(), &e.to_string())),
            Ok(qty) => {
                if qty.is_negative() {
                    out.push(FieldErr::invalid(
                        &path,
                        &q(&qty.canonical()),
                        "must be greater than or equal to 0",
                    ));
                }
                let integer = INTEGER_RESOURCES.contains(&k.as_str()) || is_extended(k);
                if integer && qty.nanos() % 1_000_000_000 != 0 {
                    let raw = v
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string());
                    out.push(FieldErr::invalid(
                        &path,
                        &go_quantity(&raw, &qty),
                        "must be an integer",
                    ));
                }
            }
        }
    }
    let hard_names: Vec<&str> = hard.keys().map(String::as_str).collect();
    // validateResourceQuotaScopes
    let scopes = strs(spec.get("scopes"));
    if !scopes.is_empty() {
        let rendered = go_slice("[]core.ResourceQuotaScope", &scopes);
        for s in &scopes {
            if !STANDARD_SCOPES.contains(&s.as_str()) {
                out.push(FieldErr::invalid(
                    "spec.scopes",
                    &rendered,
                    "unsupported scope",
                ));
            }
            for k in &hard_names {
                if is_standard_quota_resource(k) && !scope_valid_for(s, k) {
                    out.push(FieldErr::invalid(
                        "spec.scopes",
                        &rendered,
                        "unsupported scope applied to resource",
                    ));
                }
            }
        }
        if conflicting(&scopes) {
            out.push(FieldErr::invalid(
                "spec.scopes",
                &rendered,
                "conflicting scopes",
            ));
        }
    }
    // validateScopeSelector
    if let Some(sel) = spec.get("scopeSelector").filter(|v| !v.is_null()) {
        let p = "spec.scopeSelector.matchExpressions";
        let mut names = Vec::new();
        for e in array(sel, "matchExpressions") {
            let scope = str_of(e, "scopeName");
            let op = str_of(e, "operator");
            let values = strs(e.get("values"));
            if !STANDARD_SCOPES.contains(&scope) {
                out.push(FieldErr::invalid(
                    &format!("{p}.scopeName"),
                    &q(scope),
                    "unsupported scope",
                ));
            }
            for k in &hard_names {
                if is_standard_quota_resource(k) && !scope_valid_for(scope, k) {
                    out.push(FieldErr::invalid(
                        p,
                        &go_scope_selector(sel),
                        "unsupported scope applied to resource",
                    ));
                }
            }
            if matches!(
                scope,
                "BestEffort" | "NotBestEffort" | "Terminating" | "NotTerminating"
            ) && op != "Exists"
            {
                out.push(FieldErr::invalid(
                    &format!("{p}.operator"),
                    &q(op),
                    "must be 'Exist' only operator when scope is any of ResourceQuotaScopeTerminating, ResourceQuotaScopeNotTerminating, ResourceQuotaScopeBestEffort and ResourceQuotaScopeNotBestEffort",
                ));
            }
            match op {
                "In" | "NotIn" => {
                    if values.is_empty() {
                        out.push(FieldErr::required(
                            &format!("{p}.values"),
                            "must be at least one value when `operator` is 'In' or 'NotIn' for scope selector",
                        ));
                    }
                }
                "Exists" | "DoesNotExist" => {
                    if !values.is_empty() {
                        out.push(FieldErr::invalid(
                            &format!("{p}.values"),
                            &go_slice("[]string", &values),
                            "must be no value when `operator` is 'Exist' or 'DoesNotExist' for scope selector",
                        ));
                    }
                }
                other => out.push(FieldErr::invalid(
                    &format!("{p}.operator"),
                    &q(other),
                    "not a valid selector operator",
                )),
            }
            names.push(scope.to_string());
        }
        if conflicting(&names) {
            out.push(FieldErr::invalid(
                p,
                &go_slice("[]core.ResourceQuotaScope", &scopes),
                "conflicting scopes",
            ));
        }
    }
    out
}

const STANDARD_SCOPES: &[&str] = &[
    "Terminating",
    "NotTerminating",
    "BestEffort",
    "NotBestEffort",
    "PriorityClass",
    "CrossNamespacePodAffinity",
];

fn is_standard_quota_resource(r: &str) -> bool {
    STANDARD_QUOTA_RESOURCES.contains(&r) || is_hugepages(r)
}

/// `IsResourceQuotaScopeValidForResource`.
fn scope_valid_for(scope: &str, resource: &str) -> bool {
    let pod_count = resource == "pods";
    let pod_compute = matches!(
        resource,
        "cpu" | "memory" | "limits.cpu" | "limits.memory" | "requests.cpu" | "requests.memory"
    );
    match scope {
        "Terminating" | "NotTerminating" | "NotBestEffort" | "PriorityClass" => {
            pod_count || pod_compute
        }
        "BestEffort" | "CrossNamespacePodAffinity" => pod_count,
        _ => true,
    }
}

fn conflicting(scopes: &[String]) -> bool {
    let has = |s: &str| scopes.iter().any(|x| x == s);
    (has("BestEffort") && has("NotBestEffort")) || (has("Terminating") && has("NotTerminating"))
}

// ------------------------------------------------------------------------------------- RBAC

/// `validatePolicyRule` over every rule.
fn roles(role: &Value, namespaced: bool) -> Vec<FieldErr> {
    let mut out = Vec::new();
    for (i, r) in array(role, "rules").iter().enumerate() {
        let p = format!("rules[{i}]");
        let verbs = strs(r.get("verbs"));
        let urls = strs(r.get("nonResourceURLs"));
        let groups = strs(r.get("apiGroups"));
        let resources = strs(r.get("resources"));
        let names = strs(r.get("resourceNames"));
        if verbs.is_empty() {
            out.push(FieldErr::required(
                &format!("{p}.verbs"),
                "verbs must contain at least one value",
            ));
        }
        if !urls.is_empty() {
            let rendered = go_slice("[]string", &urls);
            if namespaced {
                out.push(FieldErr::invalid(
                    &format!("{p}.nonResourceURLs"),
                    &rendered,
                    "namespaced rules cannot apply to non-resource URLs",
                ));
            }
            if !groups.is_empty() || !resources.is_empty() || !names.is_empty() {
                out.push(FieldErr::invalid(
                    &format!("{p}.nonResourceURLs"),
                    &rendered,
                    "rules cannot apply to both regular resources and non-resource URLs",
                ));
            }
            continue;
        }
        if groups.is_empty() {
            out.push(FieldErr::required(
                &format!("{p}.apiGroups"),
                "resource rules must supply at least one api group",
            ));
        }
        if resources.is_empty() {
            out.push(FieldErr::required(
                &format!("{p}.resources"),
                "resource rules must supply at least one resource",
            ));
        }
        if !names.is_empty() && resources.len() > 1 {
            out.push(FieldErr::required(
                &format!("{p}.resourceNames"),
                "resource names cannot apply to multiple resources",
            ));
        }
    }
    out
}

/// `ValidateRoleBinding` / `ValidateClusterRoleBinding` (+ `...Update`).
fn binding(b: &Value, old: Option<&Value>, namespaced: bool) -> Vec<FieldErr> {
    let mut out = Vec::new();
    let rr = b.get("roleRef").cloned().unwrap_or_else(|| json!({}));
    let api_group = str_of(&rr, "apiGroup");
    if api_group != RBAC {
        out.push(FieldErr::not_supported(
            "roleRef.apiGroup",
            &q(api_group),
            &[RBAC],
        ));
    }
    let kind = str_of(&rr, "kind");
    let kinds: &[&str] = if namespaced {
        &["Role", "ClusterRole"]
    } else {
        &["ClusterRole"]
    };
    if !kinds.contains(&kind) {
        out.push(FieldErr::not_supported("roleRef.kind", &q(kind), kinds));
    }
    let name = str_of(&rr, "name");
    if name.is_empty() {
        out.push(FieldErr::required("roleRef.name", ""));
    } else {
        for m in path_segment_errors(name) {
            out.push(FieldErr::invalid("roleRef.name", &q(name), m));
        }
    }
    for (i, s) in array(b, "subjects").iter().enumerate() {
        subject(s, namespaced, &format!("subjects[{i}]"), &mut out);
    }
    if let Some(old) = old {
        let orr = old.get("roleRef").cloned().unwrap_or_else(|| json!({}));
        let key = |r: &Value| {
            (
                str_of(r, "apiGroup").to_string(),
                str_of(r, "kind").to_string(),
                str_of(r, "name").to_string(),
            )
        };
        if key(&orr) != key(&rr) {
            out.push(FieldErr::invalid(
                "roleRef",
                &format!(
                    "rbac.RoleRef{{APIGroup:{}, Kind:{}, Name:{}}}",
                    q(api_group),
                    q(kind),
                    q(name)
                ),
                "cannot change roleRef",
            ));
        }
    }
    out
}

/// `validateRoleBindingSubject`.
fn subject(s: &Value, namespaced: bool, path: &str, out: &mut Vec<FieldErr>) {
    let name = str_of(s, "name");
    let group = str_of(s, "apiGroup");
    if name.is_empty() {
        out.push(FieldErr::required(&format!("{path}.name"), ""));
    }
    match str_of(s, "kind") {
        "ServiceAccount" => {
            if !name.is_empty() && !is_dns1123_subdomain(name) {
                out.push(FieldErr::invalid(
                    &format!("{path}.name"),
                    &q(name),
                    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
                ));
            }
            if !group.is_empty() {
                out.push(FieldErr::not_supported(
                    &format!("{path}.apiGroup"),
                    &q(group),
                    &[""],
                ));
            }
            if !namespaced && str_of(s, "namespace").is_empty() {
                out.push(FieldErr::required(&format!("{path}.namespace"), ""));
            }
        }
        "User" | "Group" => {
            let what = if str_of(s, "kind") == "User" {
                "user"
            } else {
                "group"
            };
            if name.is_empty() {
                out.push(FieldErr::invalid(
                    &format!("{path}.name"),
                    &q(name),
                    &format!("{what} name cannot be empty"),
                ));
            }
            if group != RBAC {
                out.push(FieldErr::not_supported(
                    &format!("{path}.apiGroup"),
                    &q(group),
                    &[RBAC],
                ));
            }
        }
        other => out.push(FieldErr::not_supported(
            &format!("{path}.kind"),
            &q(other),
            &["ServiceAccount", "User", "Group"],
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Registry;

    fn np(spec: Value) -> Value {
        let mut o = json!({"metadata": {"name": "deny", "namespace": "ns"}, "spec": spec});
        let reg = Registry::with_builtins();
        let d = reg.get("networking.k8s.io/networkpolicies").expect("np");
        apply_defaults(&d, &mut o);
        o
    }

    fn bodies(errs: &[FieldErr]) -> Vec<String> {
        errs.iter()
            .map(|e| format!("{}: {}", e.field, e.body))
            .collect()
    }

    #[test]
    fn network_policy_ports() {
        let o = np(json!({"podSelector": {}, "egress": [{"ports": [
            {"endPort": 9000},
            {"port": 8000, "endPort": 7000},
            {"port": "dns", "endPort": 60, "protocol": "ICMP"},
            {"port": 70000},
            {"port": "Bad_Name"}
        ]}]}));
        assert_eq!(o["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
        assert_eq!(o["spec"]["egress"][0]["ports"][0]["protocol"], "TCP");
        assert_eq!(
            bodies(&network_policy(&o, None)),
            vec![
                "spec.egress[0].ports[0].endPort: Invalid value: 9000: may not be specified when `port` is not specified",
                "spec.egress[0].ports[1].endPort: Invalid value: 7000: must be greater than or equal to `port`",
                "spec.egress[0].ports[2].protocol: Unsupported value: \"ICMP\": supported values: \"TCP\", \"UDP\", \"SCTP\"",
                "spec.egress[0].ports[2].endPort: Invalid value: 60: may not be specified when `port` is non-numeric",
                "spec.egress[0].ports[3].port: Invalid value: 70000: must be between 1 and 65535, inclusive",
                "spec.egress[0].ports[4].port: Invalid value: \"Bad_Name\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
            ]
        );
    }

    #[test]
    fn network_policy_peers_and_types() {
        let o = np(
            json!({"podSelector": {"matchExpressions": [{"key": "a", "operator": "In"}]},
            "policyTypes": ["Egress", "Sideways"],
            "egress": [{"to": [
                {},
                {"ipBlock": {"cidr": "10.0.0.0/33"}},
                {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16", "192.168.0.0/24", "10.0.0.0/8"]}},
                {"ipBlock": {"cidr": "0.0.0.0/0"}, "podSelector": {}},
                {"ipBlock": {"cidr": "10.1.2.3/8"}}
            ]}]}),
        );
        assert_eq!(
            bodies(&network_policy(&o, None)),
            vec![
                "spec.podSelector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
                "spec.egress[0].to[0]: Required value: must specify a peer",
                "spec.egress[0].to[1].ipBlock.cidr: Invalid value: \"10.0.0.0/33\": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
                "spec.egress[0].to[2].ipBlock.except[1]: Invalid value: \"192.168.0.0/24\": must be a strict subset of `cidr`",
                "spec.egress[0].to[2].ipBlock.except[2]: Invalid value: \"10.0.0.0/8\": must be a strict subset of `cidr`",
                "spec.egress[0].to[3]: Forbidden: may not specify both ipBlock and another peer",
                "spec.policyTypes[1]: Unsupported value: \"Sideways\": supported values: \"Ingress\", \"Egress\"",
            ]
        );
        // An invalid CIDR already stored may stay on update.
        let mut old =
            np(json!({"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "bad"}}]}]}));
        assert!(!network_policy(&old, None).is_empty());
        old["spec"]["egress"][0]["ports"] = json!([{"port": 53, "protocol": "UDP"}]);
        assert!(network_policy(&old.clone(), Some(&old)).is_empty());
    }

    #[test]
    fn quota_names_and_values() {
        let rq = json!({"metadata": {"name": "q"}, "spec": {"hard": {
            "requests.nvidia.com/gpu": "0", "nvidia.com/gpu": "0.5", "cpus": "1",
            "pods": "-1", "count/deployments.apps": "3", "requests.cpu": "1"},
            "scopes": ["BestEffort", "NotBestEffort"]}});
        assert_eq!(
            bodies(&resource_quota(&rq)),
            vec![
                "spec.hard[cpus]: Invalid value: \"cpus\": must be a standard resource type or fully qualified",
                "spec.hard[cpus]: Invalid value: \"cpus\": must be a standard resource for quota",
                "spec.hard[nvidia.com/gpu]: Invalid value: resource.Quantity{i:resource.int64Amount{value:5, scale:-1}, d:resource.infDecAmount{Dec:(*inf.Dec)(nil)}, s:\"0.5\", Format:\"DecimalSI\"}: must be an integer",
                "spec.hard[pods]: Invalid value: \"-1\": must be greater than or equal to 0",
                "spec.scopes: Invalid value: []core.ResourceQuotaScope{\"BestEffort\", \"NotBestEffort\"}: unsupported scope applied to resource",
                "spec.scopes: Invalid value: []core.ResourceQuotaScope{\"BestEffort\", \"NotBestEffort\"}: conflicting scopes",
            ]
        );
    }

    #[test]
    fn bindings_and_roles() {
        let reg = Registry::with_builtins();
        let d = reg
            .get("rbac.authorization.k8s.io/rolebindings")
            .expect("rb");
        let mut b = json!({"metadata": {"name": "b", "namespace": "ns"},
            "roleRef": {"kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "name": "u"}, {"kind": "ServiceAccount", "name": "sa"},
                         {"kind": "Robot", "name": "r"}]});
        apply_defaults(&d, &mut b);
        assert_eq!(b["roleRef"]["apiGroup"], RBAC);
        assert_eq!(b["subjects"][0]["apiGroup"], RBAC);
        assert_eq!(
            bodies(&binding(&b, None, true)),
            vec![
                "subjects[2].kind: Unsupported value: \"Robot\": supported values: \"ServiceAccount\", \"User\", \"Group\""
            ]
        );
        let mut changed = b.clone();
        changed["roleRef"]["name"] = json!("edit");
        changed["subjects"] = json!([]);
        let e = validate(&d, &changed, Some(&b)).expect_err("immutable roleRef");
        assert_eq!(
            e.message,
            "RoleBinding.rbac.authorization.k8s.io \"b\" is invalid: roleRef: Invalid value: rbac.RoleRef{APIGroup:\"rbac.authorization.k8s.io\", Kind:\"ClusterRole\", Name:\"edit\"}: cannot change roleRef"
        );
        let crb = json!({"roleRef": {"apiGroup": RBAC, "kind": "Role", "name": "x"},
            "subjects": [{"kind": "ServiceAccount", "name": "sa"}]});
        assert_eq!(
            bodies(&binding(&crb, None, false)),
            vec![
                "roleRef.kind: Unsupported value: \"Role\": supported values: \"ClusterRole\"",
                "subjects[0].namespace: Required value",
            ]
        );
        let role = json!({"rules": [{"verbs": ["get"]}, {"nonResourceURLs": ["/metrics"], "verbs": ["get"]},
            {"apiGroups": [""], "resources": ["a", "b"], "resourceNames": ["n"], "verbs": ["get"]}]});
        assert_eq!(
            bodies(&roles(&role, true)),
            vec![
                "rules[0].apiGroups: Required value: resource rules must supply at least one api group",
                "rules[0].resources: Required value: resource rules must supply at least one resource",
                "rules[1].nonResourceURLs: Invalid value: []string{\"/metrics\"}: namespaced rules cannot apply to non-resource URLs",
                "rules[2].resourceNames: Required value: resource names cannot apply to multiple resources",
            ]
        );
    }
}
