//! Which deny-capable network APIs the cluster serves (discovery), refreshed while leading.

use kube::Client;

use super::error::is_not_found;
use crate::respond::network::Served;

async fn serves(client: &Client, group_version: &str, plural: &str) -> bool {
    match client.list_api_group_resources(group_version).await {
        Ok(list) => list.resources.iter().any(|r| r.name == plural),
        Err(e) => {
            if !is_not_found(&e) {
                tracing::debug!(group_version, error = %e, "discovery");
            }
            false
        }
    }
}

/// Asks the API server which network-policy APIs it serves.
pub async fn network_apis(client: &Client) -> Served {
    Served {
        cluster_network_policy: serves(
            client,
            "policy.networking.k8s.io/v1alpha2",
            "clusternetworkpolicies",
        )
        .await,
        admin_network_policy: serves(
            client,
            "policy.networking.k8s.io/v1alpha1",
            "adminnetworkpolicies",
        )
        .await,
        cilium: serves(client, "cilium.io/v2", "ciliumnetworkpolicies").await,
        calico_v3: serves(client, "projectcalico.org/v3", "networkpolicies").await,
        calico_crd: serves(client, "crd.projectcalico.org/v1", "networkpolicies").await,
    }
}

/// The `resource.k8s.io` version the cluster serves ResourceClaims at (DRA is `v1` from
/// Kubernetes 1.34; 1.32 and 1.33 serve `v1beta1`/`v1beta2`); None when DRA is not served.
pub async fn dra_version(client: &Client) -> Option<String> {
    for version in ["v1", "v1beta2", "v1beta1"] {
        if serves(
            client,
            &format!("resource.k8s.io/{version}"),
            "resourceclaims",
        )
        .await
        {
            return Some(version.to_string());
        }
    }
    None
}
