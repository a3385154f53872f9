//! Opening a profile's store, and the commands about the store itself.

use crate::cli::output::Output;
use anyhow::Context;
use fieldcase_core::store::{OpenOptions, Store};
use fieldcase_core::sync::{ConnectOptions, SyncClient, SyncError};
use std::path::{Path, PathBuf};

/// One user's store on this machine.
pub struct Profile {
    pub name: String,
    pub path: PathBuf,
    /// How this invocation may reach the server (`--allow-insecure-http`).
    pub connect: ConnectOptions,
}

impl Profile {
    pub fn new(dir: &Path, name: &str, connect: ConnectOptions) -> anyhow::Result<Profile> {
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        anyhow::ensure!(
            valid,
            "a profile name is 1 to 64 letters, digits, '-' or '_'"
        );
        Ok(Profile {
            name: name.to_owned(),
            path: dir.join(format!("{name}.fieldcase")),
            connect,
        })
    }

    /// A sync client for the server `store` enrolled with, under this invocation's options.
    pub fn sync_client(&self, store: &Store) -> Result<SyncClient, SyncError> {
        SyncClient::for_store_with(store, self.connect)
    }

    /// Opens and unlocks the store, asking for the passphrase if the environment has none.
    pub fn open(&self) -> anyhow::Result<Store> {
        anyhow::ensure!(
            self.path.exists(),
            "profile '{}' has no store yet; run `fieldcase device enroll` first",
            self.name
        );
        let passphrase = passphrase("FIELDCASE_PASSPHRASE", "Passphrase: ")?;
        Store::open(&self.path, &passphrase, None, &OpenOptions::default())
            .with_context(|| format!("opening profile '{}'", self.name))
    }
}

/// A secret from an environment variable, or from the terminal without echo.
pub fn passphrase(variable: &str, prompt: &str) -> anyhow::Result<String> {
    if let Ok(value) = std::env::var(variable) {
        return Ok(value);
    }
    rpassword::prompt_password(prompt)
        .with_context(|| format!("no {variable} set and no terminal to ask for it"))
}

pub fn change_passphrase(profile: &Profile, out: Output) -> anyhow::Result<()> {
    let mut store = profile.open()?;
    let old = passphrase("FIELDCASE_PASSPHRASE", "Current passphrase: ")?;
    let new = passphrase("FIELDCASE_NEW_PASSPHRASE", "New passphrase: ")?;
    anyhow::ensure!(
        new.chars().count() >= 8,
        "choose a passphrase of at least 8 characters"
    );
    store.change_passphrase(&old, None, &new, None, Default::default())?;
    out.print(
        &serde_json::json!({"profile": profile.name, "passphrase_changed": true}),
        || "passphrase changed; the data was not re-encrypted, only its key re-wrapped".into(),
    );
    Ok(())
}

pub fn wipe(profile: &Profile, confirmed: bool, out: Output) -> anyhow::Result<()> {
    anyhow::ensure!(
        confirmed,
        "wiping destroys every case in this profile, synced or not; add --yes to confirm"
    );
    match profile.open() {
        Ok(mut store) => store.wipe()?,
        // A store that cannot be opened (forgotten passphrase) can still be destroyed.
        Err(_) if profile.path.exists() => Store::wipe_path(&profile.path)?,
        Err(e) => return Err(e),
    }
    out.print(
        &serde_json::json!({"profile": profile.name, "wiped": true}),
        || format!("profile '{}' wiped", profile.name),
    );
    Ok(())
}
