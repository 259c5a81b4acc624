//! Validation of the built-in objects cryptojack writes, after the apiserver's
//! (pkg/apis/{networking,core,rbac}/validation): 422 Invalid with the apiserver's Status shape
//! (`details.causes` with field paths).

use serde_json::json;

use crate::api::ApiError;
use crate::resources::ResourceDef;

/// `path.IsValidPathSegmentName` (the names of RBAC objects, e.g. `system:aggregate-to-view`).
pub fn check_path_segment_name(def: &ResourceDef, name: &str) -> Result<(), ApiError> {
    let why = if name.is_empty() {
        return Err(ApiError::invalid(
            def,
            name,
            "metadata.name",
            "FieldValueRequired",
            "Required value: name or generateName is required",
        ));
    } else if name == "." {
        "may not be '.'"
    } else if name == ".." {
        "may not be '..'"
    } else if name.contains('/') {
        "may not contain '/'"
    } else if name.contains('%') {
        "may not contain '%'"
    } else {
        return Ok(());
    };
    Err(ApiError::invalid(
        def,
        name,
        "metadata.name",
        "FieldValueInvalid",
        &format!("Invalid value: {}: {why}", json!(name)),
    ))
}
