//! Leader election on a `coordination.k8s.io/v1` Lease in the operator's namespace, as
//! client-go's leaderelection does it: a candidate takes the Lease when its holder has
//! not renewed it for `leaseDurationSeconds` *as observed locally* (the time the
//! candidate last saw the record change, so clock skew between replicas does not
//! matter); the holder renews every `retry_period` and gives up leading when it could
//! not renew within `renew_deadline`. Writes use the Lease's resourceVersion, so two
//! candidates cannot both win.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Client;
use kube::api::{Api, PostParams};

use super::error::{is_conflict, is_not_found};

/// Name of the operator's Lease.
pub const LEASE_NAME: &str = "cryptojack-leader";

/// Timing of the election.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

impl Timing {
    /// From the lease duration: renew deadline 2/3 of it, retry period 1/5 (client-go's
    /// defaults are 15 s / 10 s / 2 s).
    pub fn from_lease_seconds(seconds: u64) -> Timing {
        let d = Duration::from_secs(seconds.max(2));
        Timing {
            lease_duration: d,
            renew_deadline: d * 2 / 3,
            retry_period: (d / 5).max(Duration::from_millis(200)),
        }
    }
}

/// One candidate.
pub struct Elector {
    api: Api<Lease>,
    identity: String,
    timing: Timing,
    /// The last record seen (holder, renewTime) and when it was seen to change.
    observed: Option<(Option<String>, Option<String>, Instant)>,
}

impl Elector {
    pub fn new(client: Client, namespace: &str, identity: &str, timing: Timing) -> Elector {
        Elector {
            api: Api::namespaced(client, namespace),
            identity: identity.to_string(),
            timing,
            observed: None,
        }
    }

    pub fn identity(&self) -> &str {
        &self.identity
    }

    pub fn timing(&self) -> Timing {
        self.timing
    }

    fn spec(&self, transitions: i32, acquire: Option<MicroTime>) -> LeaseSpec {
        let now = MicroTime(jiff::Timestamp::now());
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(self.timing.lease_duration.as_secs() as i32),
            acquire_time: Some(acquire.unwrap_or_else(|| now.clone())),
            renew_time: Some(now),
            lease_transitions: Some(transitions),
            ..Default::default()
        }
    }

    /// Tries to acquire or renew the Lease; true when this candidate holds it.
    pub async fn try_acquire_or_renew(&mut self) -> Result<bool, kube::Error> {
        let current = match self.api.get(LEASE_NAME).await {
            Ok(l) => l,
            Err(e) if is_not_found(&e) => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(LEASE_NAME.into()),
                        ..Default::default()
                    },
                    spec: Some(self.spec(0, None)),
                };
                return match self.api.create(&PostParams::default(), &lease).await {
                    Ok(_) => Ok(true),
                    Err(e) if is_conflict(&e) => Ok(false),
                    Err(e) => Err(e),
                };
            }
            Err(e) => return Err(e),
        };
        let spec = current.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let renew = spec.renew_time.as_ref().map(|t| t.0.to_string());
        let now = Instant::now();
        let changed = match &self.observed {
            Some((h, r, _)) => *h != holder || *r != renew,
            None => true,
        };
        if changed {
            self.observed = Some((holder.clone(), renew.clone(), now));
        }
        let duration = spec
            .lease_duration_seconds
            .map(|s| Duration::from_secs(s.max(1) as u64))
            .unwrap_or(self.timing.lease_duration);
        let mine = holder.as_deref() == Some(self.identity.as_str());
        let expired = match &self.observed {
            Some((_, _, seen)) => now.duration_since(*seen) >= duration,
            None => true,
        };
        if !mine && holder.is_some() && !expired {
            return Ok(false);
        }
        let transitions = spec.lease_transitions.unwrap_or(0) + if mine { 0 } else { 1 };
        let acquire = if mine {
            spec.acquire_time.clone()
        } else {
            None
        };
        let mut next = current.clone();
        next.spec = Some(self.spec(transitions, acquire));
        match self
            .api
            .replace(LEASE_NAME, &PostParams::default(), &next)
            .await
        {
            Ok(l) => {
                let s = l.spec.unwrap_or_default();
                self.observed = Some((
                    s.holder_identity,
                    s.renew_time.map(|t| t.0.to_string()),
                    Instant::now(),
                ));
                Ok(true)
            }
            Err(e) if is_conflict(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Gives the Lease up (on shutdown), so a standby takes over at once.
    pub async fn release(&mut self) {
        if let Ok(mut l) = self.api.get(LEASE_NAME).await {
            let spec = l.spec.get_or_insert_with(Default::default);
            if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
                return;
            }
            spec.holder_identity = None;
            spec.lease_duration_seconds = Some(1);
            spec.renew_time = Some(MicroTime(jiff::Timestamp::now()));
            let _ = self
                .api
                .replace(LEASE_NAME, &PostParams::default(), &l)
                .await;
        }
    }
}
