//! Disruption controller (pkg/controller/disruption): keeps PodDisruptionBudget status current.
//! The computation lives in [`crate::pdb::compute_status`].

use super::*;

pub(crate) fn reconcile(ctx: &Ctx<'_>, out: &mut Vec<Mutation>) {
    for pdb in ctx.snap.list(keys::PDBS) {
        if is_terminating(pdb) {
            continue;
        }
        let ns = obj_namespace(pdb).unwrap_or("default");
        let status = crate::pdb::compute_status(pdb, ctx.pods_in(ns), ctx.snap, ctx.now);
        if let Some(m) = status_update(keys::PDBS, pdb, status) {
            out.push(m);
        }
    }
}
