//! The committed `docs/openapi.json` is exactly the spec the code generates. After changing
//! an operation, regenerate it with `CLAVIS_BLESS_OPENAPI=1 cargo test -p clavis-api --test
//! openapi_drift` and commit the result.

use std::path::PathBuf;

#[test]
fn committed_openapi_matches_the_code() -> Result<(), Box<dyn std::error::Error>> {
    let generated = format!(
        "{}\n",
        serde_json::to_string_pretty(&clavis_api::management_openapi(None))?
    );
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    if std::env::var_os("CLAVIS_BLESS_OPENAPI").is_some() {
        std::fs::write(&path, &generated)?;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json differs from the spec the code generates; regenerate it with \
         `CLAVIS_BLESS_OPENAPI=1 cargo test -p clavis-api --test openapi_drift` and commit it"
    );
    Ok(())
}
