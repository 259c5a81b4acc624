//! The object store: JSON objects per resource key, a global resourceVersion counter stamped on
//! every write, a bounded event history for watch replay, and a broadcast channel for watch fan-out.
//!
//! The store is deliberately dumb: it knows nothing of Kubernetes semantics beyond
//! `metadata.{namespace,name,resourceVersion}`. The rules (defaulting, status subresource,
//! finalizers, ...) live in `api.rs`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, RwLock};

use serde_json::Value;
use tokio::sync::{Notify, broadcast};

/// `(namespace or "", name)`: the order of objects within a resource (that of etcd keys).
pub type ObjKey = (String, String);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as kept in the history and sent to watchers.
#[derive(Debug)]
pub struct Event {
    pub rv: u64,
    pub key: String,
    pub etype: EventType,
    /// The new state (for DELETED: the last state, stamped with the deletion's resourceVersion).
    pub object: Arc<Value>,
    /// The previous state (MODIFIED, DELETED), used to turn selector transitions into ADDED/DELETED.
    pub prev: Option<Arc<Value>>,
}

/// What the broadcast channel carries.
#[derive(Debug)]
pub enum Broadcast {
    Event(Arc<Event>),
    /// Close every open watch; with `gone`, send an ERROR 410 event first.
    CloseAll {
        gone: bool,
    },
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum StoreError {
    #[error("object {key} {ns}/{name} already exists")]
    AlreadyExists {
        key: String,
        ns: String,
        name: String,
    },
    #[error("object {key} {ns}/{name} not found")]
    NotFound {
        key: String,
        ns: String,
        name: String,
    },
    #[error("object {key} {ns}/{name} has resourceVersion {actual}, expected {expected}")]
    Conflict {
        key: String,
        ns: String,
        name: String,
        expected: u64,
        actual: u64,
    },
    #[error("object {key} has no metadata.name")]
    NoName { key: String },
    #[error("too old resource version: {requested} ({oldest})")]
    TooOld { requested: u64, oldest: u64 },
}

struct Inner {
    rv: u64,
    objects: HashMap<String, BTreeMap<ObjKey, Arc<Value>>>,
    history: VecDeque<Arc<Event>>,
    history_cap: usize,
    /// Every event with rv > floor is in `history`.
    floor: u64,
}

pub struct Store {
    inner: RwLock<Inner>,
    tx: broadcast::Sender<Arc<Broadcast>>,
    changed: Notify,
}

/// One page of a list.
pub struct Page {
    pub items: Vec<Arc<Value>>,
    /// The last key of this page when more items follow.
    pub next: Option<ObjKey>,
    /// How many items follow this page: known only for an unfiltered list (as in Kubernetes,
    /// where `remainingItemCount` is omitted when the list has a label or field selector).
    pub remaining: Option<usize>,
    pub rv: u64,
}

/// The start of a watch: events to replay (or current objects as ADDED) and the live receiver.
pub struct WatchStart {
    pub initial: Vec<Arc<Event>>,
    pub rx: broadcast::Receiver<Arc<Broadcast>>,
    pub rv: u64,
}

pub fn obj_key(obj: &Value) -> Option<ObjKey> {
    let md = obj.get("metadata")?;
    let name = md.get("name")?.as_str()?;
    let ns = md.get("namespace").and_then(Value::as_str).unwrap_or("");
    Some((ns.to_string(), name.to_string()))
}

/// The resourceVersion of an object as a number (0 when absent or not a number).
pub fn rv_of(obj: &Value) -> u64 {
    obj.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn stamp(obj: &mut Value, rv: u64) {
    if let Some(md) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        md.insert("resourceVersion".into(), Value::String(rv.to_string()));
    }
}

impl Store {
    /// `history`: number of events kept for watch replay; `watch_buffer`: events a watcher may lag
    /// behind before it is dropped.
    pub fn new(history: usize, watch_buffer: usize) -> Self {
        let (tx, _) = broadcast::channel(watch_buffer.max(16));
        Store {
            inner: RwLock::new(Inner {
                rv: 1,
                objects: HashMap::new(),
                history: VecDeque::new(),
                history_cap: history.max(1),
                floor: 1,
            }),
            tx,
            changed: Notify::new(),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until something was written (for the controller driver).
    pub async fn changed(&self) {
        self.changed.notified().await
    }

    pub fn current_rv(&self) -> u64 {
        self.read().rv
    }

    /// The oldest resourceVersion a watch may start from.
    pub fn floor(&self) -> u64 {
        self.read().floor
    }

    pub fn set_history(&self, n: usize) {
        let mut g = self.write();
        g.history_cap = n.max(1);
        while g.history.len() > g.history_cap {
            if let Some(e) = g.history.pop_front() {
                g.floor = e.rv;
            }
        }
    }

    pub fn get(&self, key: &str, ns: &str, name: &str) -> Option<Arc<Value>> {
        let g = self.read();
        g.objects
            .get(key)?
            .get(&(ns.to_string(), name.to_string()))
            .cloned()
    }

    /// All objects of `key` (in `ns` when given).
    pub fn list(&self, key: &str, ns: Option<&str>) -> Vec<Arc<Value>> {
        self.page(key, ns, None, usize::MAX, None).items
    }

    /// Number of objects of `key`.
    pub fn count(&self, key: &str) -> usize {
        self.read().objects.get(key).map_or(0, BTreeMap::len)
    }

    /// Keys that have at least one object.
    pub fn keys(&self) -> Vec<String> {
        self.read()
            .objects
            .iter()
            .filter(|(_, m)| !m.is_empty())
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// A page of objects of `key` matching `filter` (all of them when `None`), after `after`,
    /// at most `limit`. A filtered page stops at the first match past the page instead of counting
    /// the rest, so paging through a large filtered list stays linear overall.
    pub fn page(
        &self,
        key: &str,
        ns: Option<&str>,
        after: Option<&ObjKey>,
        limit: usize,
        filter: Option<&dyn Fn(&Value) -> bool>,
    ) -> Page {
        let g = self.read();
        let mut items = Vec::new();
        let mut next = None;
        let mut remaining = 0;
        if let Some(map) = g.objects.get(key) {
            use std::ops::Bound;
            let lower = match (after, ns) {
                (Some(k), _) => Bound::Excluded(k.clone()),
                (None, Some(ns)) => Bound::Included((ns.to_string(), String::new())),
                (None, None) => Bound::Unbounded,
            };
            for (k, v) in map.range((lower, Bound::Unbounded)) {
                if let Some(ns) = ns
                    && k.0 != ns
                {
                    break;
                }
                if filter.is_some_and(|f| !f(v)) {
                    continue;
                }
                if items.len() < limit {
                    items.push(v.clone());
                    if items.len() == limit {
                        next = Some(k.clone());
                    }
                } else {
                    remaining += 1;
                    if filter.is_some() {
                        break;
                    }
                }
            }
        }
        if remaining == 0 {
            next = None;
        }
        Page {
            items,
            next,
            remaining: filter.is_none().then_some(remaining),
            rv: g.rv,
        }
    }

    fn push_event(g: &mut Inner, tx: &broadcast::Sender<Arc<Broadcast>>, ev: Event) {
        let ev = Arc::new(ev);
        g.history.push_back(ev.clone());
        while g.history.len() > g.history_cap {
            if let Some(e) = g.history.pop_front() {
                g.floor = e.rv;
            }
        }
        // No receivers is fine.
        let _ = tx.send(Arc::new(Broadcast::Event(ev)));
    }

    /// Stores `obj` under the next resourceVersion and records the event: ADDED without `prev`,
    /// MODIFIED with it.
    fn commit(
        g: &mut Inner,
        tx: &broadcast::Sender<Arc<Broadcast>>,
        key: &str,
        k: ObjKey,
        mut obj: Value,
        prev: Option<Arc<Value>>,
    ) -> Arc<Value> {
        g.rv += 1;
        let rv = g.rv;
        stamp(&mut obj, rv);
        let obj = Arc::new(obj);
        g.objects
            .entry(key.to_string())
            .or_default()
            .insert(k, obj.clone());
        let etype = if prev.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        Self::push_event(
            g,
            tx,
            Event {
                rv,
                key: key.into(),
                etype,
                object: obj.clone(),
                prev,
            },
        );
        obj
    }

    /// Inserts a new object (stamping its resourceVersion).
    pub fn create(&self, key: &str, obj: Value) -> Result<Arc<Value>, StoreError> {
        let k = obj_key(&obj).ok_or_else(|| StoreError::NoName { key: key.into() })?;
        let out = {
            let mut g = self.write();
            let exists = g.objects.get(key).is_some_and(|m| m.contains_key(&k));
            if exists {
                return Err(StoreError::AlreadyExists {
                    key: key.into(),
                    ns: k.0,
                    name: k.1,
                });
            }
            Self::commit(&mut g, &self.tx, key, k, obj, None)
        };
        self.changed.notify_one();
        Ok(out)
    }

    /// Replaces an existing object. `expected_rv`: the resourceVersion the caller read (conflict
    /// when the stored one differs). When nothing changed, no event is produced and the stored
    /// object is returned.
    pub fn update(
        &self,
        key: &str,
        mut obj: Value,
        expected_rv: Option<u64>,
    ) -> Result<Arc<Value>, StoreError> {
        let k = obj_key(&obj).ok_or_else(|| StoreError::NoName { key: key.into() })?;
        let out = {
            let mut g = self.write();
            let Some(prev) = g.objects.get(key).and_then(|m| m.get(&k)).cloned() else {
                return Err(StoreError::NotFound {
                    key: key.into(),
                    ns: k.0,
                    name: k.1,
                });
            };
            let actual = rv_of(&prev);
            if let Some(expected) = expected_rv
                && expected != actual
            {
                return Err(StoreError::Conflict {
                    key: key.into(),
                    ns: k.0,
                    name: k.1,
                    expected,
                    actual,
                });
            }
            stamp(&mut obj, actual);
            if obj == *prev {
                return Ok(prev);
            }
            Self::commit(&mut g, &self.tx, key, k, obj, Some(prev))
        };
        self.changed.notify_one();
        Ok(out)
    }

    /// Removes an object; returns its last state stamped with the deletion's resourceVersion.
    pub fn delete(
        &self,
        key: &str,
        ns: &str,
        name: &str,
        expected_rv: Option<u64>,
    ) -> Result<Arc<Value>, StoreError> {
        self.delete_inner(key, (ns.to_string(), name.to_string()), None, expected_rv)
    }

    /// Removes the object `last` names, reporting `last` as its final state (an update that
    /// removed the last finalizer of an object being deleted).
    pub fn delete_as(
        &self,
        key: &str,
        last: Value,
        expected_rv: Option<u64>,
    ) -> Result<Arc<Value>, StoreError> {
        let k = obj_key(&last).ok_or_else(|| StoreError::NoName { key: key.into() })?;
        self.delete_inner(key, k, Some(last), expected_rv)
    }

    fn delete_inner(
        &self,
        key: &str,
        k: ObjKey,
        last: Option<Value>,
        expected_rv: Option<u64>,
    ) -> Result<Arc<Value>, StoreError> {
        let out = {
            let mut g = self.write();
            let Some(prev) = g.objects.get(key).and_then(|m| m.get(&k)).cloned() else {
                return Err(StoreError::NotFound {
                    key: key.into(),
                    ns: k.0,
                    name: k.1,
                });
            };
            if let Some(expected) = expected_rv {
                let actual = rv_of(&prev);
                if expected != actual {
                    return Err(StoreError::Conflict {
                        key: key.into(),
                        ns: k.0,
                        name: k.1,
                        expected,
                        actual,
                    });
                }
            }
            if let Some(m) = g.objects.get_mut(key) {
                m.remove(&k);
            }
            g.rv += 1;
            let rv = g.rv;
            let mut last = last.unwrap_or_else(|| (*prev).clone());
            stamp(&mut last, rv);
            let last = Arc::new(last);
            Self::push_event(
                &mut g,
                &self.tx,
                Event {
                    rv,
                    key: key.into(),
                    etype: EventType::Deleted,
                    object: last.clone(),
                    prev: Some(prev),
                },
            );
            last
        };
        self.changed.notify_one();
        Ok(out)
    }

    /// Removes every object of `key` (used when a CRD is deleted), producing DELETED events.
    pub fn delete_all(&self, key: &str) -> usize {
        let keys: Vec<ObjKey> = {
            let g = self.read();
            g.objects
                .get(key)
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default()
        };
        keys.iter()
            .filter(|(ns, name)| self.delete(key, ns, name, None).is_ok())
            .count()
    }

    /// Starts a watch of `key`. `since: None` gives the current objects as ADDED events (the
    /// "start at most recent" semantics of rv unset/"0"); `Some(rv)` replays history after `rv`.
    pub fn watch(&self, key: &str, since: Option<u64>) -> Result<WatchStart, StoreError> {
        let g = self.read();
        let rx = self.tx.subscribe();
        let initial = match since {
            None => g
                .objects
                .get(key)
                .map(|m| {
                    m.values()
                        .map(|o| {
                            Arc::new(Event {
                                rv: rv_of(o),
                                key: key.into(),
                                etype: EventType::Added,
                                object: o.clone(),
                                prev: None,
                            })
                        })
                        .collect()
                })
                .unwrap_or_default(),
            Some(rv) => {
                if rv < g.floor {
                    return Err(StoreError::TooOld {
                        requested: rv,
                        oldest: g.floor,
                    });
                }
                g.history
                    .iter()
                    .filter(|e| e.rv > rv && e.key == key)
                    .cloned()
                    .collect()
            }
        };
        Ok(WatchStart {
            initial,
            rx,
            rv: g.rv,
        })
    }

    /// Whether a list continuation at `rv` can still be served.
    pub fn check_not_compacted(&self, rv: u64) -> Result<(), StoreError> {
        let g = self.read();
        if rv < g.floor {
            Err(StoreError::TooOld {
                requested: rv,
                oldest: g.floor,
            })
        } else {
            Ok(())
        }
    }

    /// Closes every open watch (optionally with an ERROR 410 first).
    pub fn close_watches(&self, gone: bool) {
        let _ = self.tx.send(Arc::new(Broadcast::CloseAll { gone }));
    }

    /// Drops the history and moves the floor past the current resourceVersion, so that every
    /// watch or continue from an earlier version gets 410 Gone; closes every open watch.
    pub fn compact(&self) {
        {
            let mut g = self.write();
            g.rv += 1;
            g.floor = g.rv;
            g.history.clear();
        }
        self.close_watches(false);
    }

    /// Clones of every object, per key, for the controllers and the authorizer (cheap: Arcs).
    pub fn snapshot_objects(&self, keys: Option<&[&str]>) -> BTreeMap<String, Vec<Arc<Value>>> {
        let g = self.read();
        let mut out = BTreeMap::new();
        for (k, m) in &g.objects {
            if let Some(keys) = keys
                && !keys.contains(&k.as_str())
            {
                continue;
            }
            out.insert(k.clone(), m.values().cloned().collect());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(ns: &str, name: &str) -> Value {
        json!({"apiVersion":"v1","kind":"Pod","metadata":{"namespace":ns,"name":name}})
    }

    #[test]
    fn create_update_delete_stamp_versions() {
        let s = Store::new(10, 100);
        let a = s.create("/pods", pod("a", "p")).expect("create");
        let rv1 = rv_of(&a);
        assert!(rv1 > 1);
        assert!(matches!(
            s.create("/pods", pod("a", "p")),
            Err(StoreError::AlreadyExists { .. })
        ));
        let mut changed = (*a).clone();
        changed["metadata"]["labels"] = json!({"x":"y"});
        let b = s
            .update("/pods", changed.clone(), Some(rv1))
            .expect("update");
        assert_eq!(rv_of(&b), rv1 + 1);
        assert!(matches!(
            s.update("/pods", changed.clone(), Some(rv1)),
            Err(StoreError::Conflict { .. })
        ));
        // no-op update: no new version
        let c = s.update("/pods", changed, None).expect("noop");
        assert_eq!(rv_of(&c), rv1 + 1);
        let d = s.delete("/pods", "a", "p", None).expect("delete");
        assert_eq!(rv_of(&d), rv1 + 2);
        assert!(s.get("/pods", "a", "p").is_none());
    }

    #[test]
    fn pages_and_namespaces() {
        let s = Store::new(10, 100);
        for ns in ["a", "b"] {
            for i in 0..3 {
                s.create("/pods", pod(ns, &format!("p{i}")))
                    .expect("create");
            }
        }
        assert_eq!(s.list("/pods", Some("a")).len(), 3);
        assert_eq!(s.list("/pods", None).len(), 6);
        let p = s.page("/pods", None, None, 4, None);
        assert_eq!((p.items.len(), p.remaining), (4, Some(2)));
        let p2 = s.page("/pods", None, p.next.as_ref(), 4, None);
        assert_eq!((p2.items.len(), p2.remaining, p2.next), (2, Some(0), None));
        let all: &dyn Fn(&Value) -> bool = &|_| true;
        let f = s.page("/pods", None, None, 4, Some(all));
        assert_eq!((f.items.len(), f.remaining), (4, None));
        assert!(
            f.next.is_some(),
            "a filtered page still knows that more items follow"
        );
    }

    #[test]
    fn watch_replay_and_too_old() {
        let s = Store::new(3, 100);
        let start = s.current_rv();
        for i in 0..5 {
            s.create("/pods", pod("a", &format!("p{i}")))
                .expect("create");
        }
        assert!(matches!(
            s.watch("/pods", Some(start)),
            Err(StoreError::TooOld { .. })
        ));
        let w = s.watch("/pods", Some(s.current_rv() - 2)).expect("watch");
        assert_eq!(w.initial.len(), 2);
        let all = s.watch("/pods", None).expect("watch");
        assert_eq!(all.initial.len(), 5);
        s.compact();
        assert!(s.watch("/pods", Some(s.current_rv() - 1)).is_err());
    }
}
