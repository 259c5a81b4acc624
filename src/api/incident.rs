//! CryptojackIncident (owned by the api helper)
