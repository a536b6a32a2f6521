//! The unprivileged user scripts run as, and the file modes that keep the gateway's own
//! state (database, keys, other runs) out of its reach.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// Who scripts run as.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RunAsChoice {
    /// A separate user when the gateway runs as root and that user can reach the scripts.
    #[default]
    Auto,
    /// Always the gateway's own user.
    Off,
    /// This user (a name or a numeric id); start-up fails when it cannot be used.
    User(String),
}

impl std::str::FromStr for RunAsChoice {
    type Err = String;

    fn from_str(text: &str) -> Result<RunAsChoice, String> {
        Ok(match text.trim() {
            "" | "auto" => RunAsChoice::Auto,
            "off" | "none" => RunAsChoice::Off,
            name => RunAsChoice::User(name.to_string()),
        })
    }
}

/// Users tried, in order, when the choice is `auto`.
const AUTO_USERS: [&str; 2] = ["scriptgateway", "nobody"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The run user, or None for the gateway's own; warnings say why a wanted one is not used.
pub fn resolve(
    choice: &RunAsChoice,
    reachable: &[std::path::PathBuf],
    warnings: &mut Vec<String>,
) -> Result<Option<RunAs>, String> {
    match choice {
        RunAsChoice::Off => Ok(None),
        RunAsChoice::User(name) => {
            if !is_root() {
                return Err(format!(
                    "running scripts as {name} needs the gateway to run as root"
                ));
            }
            let user = lookup(name)?.ok_or_else(|| format!("no user {name} on this host"))?;
            check_reach(&user, reachable)?;
            Ok(Some(user))
        }
        RunAsChoice::Auto if !is_root() => Ok(None),
        RunAsChoice::Auto => {
            let Some(user) = AUTO_USERS
                .iter()
                .find_map(|name| lookup(name).ok().flatten())
            else {
                warnings.push("no unprivileged user to run scripts as; set --run-as".into());
                return Ok(None);
            };
            match check_reach(&user, reachable) {
                Ok(()) => Ok(Some(user)),
                Err(reason) => {
                    warnings.push(format!(
                        "scripts run as root: {reason} (make it reachable or set --run-as)"
                    ));
                    Ok(None)
                }
            }
        }
    }
}

fn lookup(name: &str) -> Result<Option<RunAs>, String> {
    let found = match name.parse::<u32>() {
        Ok(uid) => nix::unistd::User::from_uid(uid.into()),
        Err(_) => nix::unistd::User::from_name(name),
    }
    .map_err(|e| format!("cannot look up user {name}: {e}"))?;
    Ok(found.map(|user| RunAs {
        name: user.name,
        uid: user.uid.as_raw(),
        gid: user.gid.as_raw(),
    }))
}

/// Every folder the run user needs: each one and its parents searchable.
fn check_reach(user: &RunAs, folders: &[std::path::PathBuf]) -> Result<(), String> {
    for folder in folders {
        for dir in folder.ancestors() {
            let Ok(meta) = fs::metadata(dir) else {
                continue;
            };
            if !may(&meta, user, 0o1) {
                return Err(format!("{} cannot enter {}", user.name, dir.display()));
            }
        }
    }
    Ok(())
}

fn may(meta: &fs::Metadata, user: &RunAs, bits: u32) -> bool {
    let mode = meta.mode();
    let granted = if meta.uid() == user.uid {
        mode >> 6
    } else if meta.gid() == user.gid {
        mode >> 3
    } else {
        mode
    };
    granted & bits == bits
}

impl RunAs {
    /// Gives a folder to the run user for the time of a run: only it (and root) may enter.
    pub fn hand_over(&self, dir: &Path) -> io::Result<()> {
        std::os::unix::fs::chown(dir, Some(self.uid), Some(self.gid))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
    }

    /// Gives a file to the run user (an input put in its working folder), to read and change.
    pub fn hand_over_file(&self, file: &Path) -> io::Result<()> {
        std::os::unix::fs::chown(file, Some(self.uid), Some(self.gid))?;
        fs::set_permissions(file, fs::Permissions::from_mode(0o600))
    }

    /// Takes a folder back once the run is over, so later runs cannot read what it left.
    pub fn take_back(dir: &Path) -> io::Result<()> {
        let (uid, gid) = (nix::unistd::geteuid(), nix::unistd::getegid());
        std::os::unix::fs::chown(dir, Some(uid.as_raw()), Some(gid.as_raw()))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
    }
}

/// Closes the data folder to the run user: it may pass through to its run folder and read
/// the dependency caches, but not list the folder nor open the database or its journals.
pub fn close_gateway_state(data_dir: &Path, private_files: &[&Path]) -> io::Result<()> {
    fs::set_permissions(data_dir, fs::Permissions::from_mode(0o711))?;
    for file in private_files {
        match fs::set_permissions(file, fs::Permissions::from_mode(0o600)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}
