//! Resolving the process user of a container (`runAsUser`/`runAsGroup`, or
//! the image's `User`, which may be a name looked up in the image's
//! /etc/passwd and /etc/group). Files are read inside the container's root
//! with `RESOLVE_IN_ROOT`, so an image cannot make us read host files
//! through a symlinked /etc/passwd.

use std::io::Read;
use std::path::Path;

use rustix::fs::{Mode, OFlags, ResolveFlags};

use crate::RuntimeError;
use crate::cri::SecurityContext;
use crate::oci::User;

fn read_in_root(root: &Path, path: &str) -> Option<String> {
    let dir = rustix::fs::open(root, OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).ok()?;
    let fd = rustix::fs::openat2(
        &dir,
        path,
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )
    .ok()?;
    let mut s = String::new();
    std::fs::File::from(fd).take(4 << 20).read_to_string(&mut s).ok()?;
    Some(s)
}

/// (name, id, primary gid) from passwd-format text.
fn parse_passwd(text: &str) -> Vec<(String, u32, u32)> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 4).then(|| Some((f[0].to_string(), f[2].parse().ok()?, f[3].parse().ok()?))).flatten()
        })
        .collect()
}

/// (name, gid, members) from group-format text.
fn parse_group(text: &str) -> Vec<(String, u32, Vec<String>)> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 3 {
                return None;
            }
            let members = f
                .get(3)
                .map(|m| m.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect())
                .unwrap_or_default();
            Some((f[0].to_string(), f[2].parse().ok()?, members))
        })
        .collect()
}

/// Work out uid, gid and supplementary groups, as containerd's CRI does:
/// runAsUser/runAsGroup win over the image's User; a user name must exist in
/// the image; the user's groups from /etc/group are added, then
/// supplementalGroups (and fsGroup, which the node passes in the same list).
pub fn resolve(root: &Path, sec: &SecurityContext) -> Result<User, RuntimeError> {
    let passwd = read_in_root(root, "etc/passwd").map(|t| parse_passwd(&t)).unwrap_or_default();
    let groups = read_in_root(root, "etc/group").map(|t| parse_group(&t)).unwrap_or_default();

    let (mut uid, mut gid, mut user_name) = (0u32, 0u32, Some("root".to_string()));
    let mut group_from_image = false;
    if let Some(spec) = sec.image_user.as_deref().filter(|s| !s.is_empty()) {
        let (u, g) = match spec.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (spec, None),
        };
        if let Ok(n) = u.parse::<u32>() {
            uid = n;
            user_name = passwd.iter().find(|p| p.1 == n).map(|p| p.0.clone());
            gid = passwd.iter().find(|p| p.1 == n).map(|p| p.2).unwrap_or(0);
        } else {
            let p = passwd.iter().find(|p| p.0 == u).ok_or_else(|| {
                RuntimeError::User(format!("unable to find user {u}: no matching entries in passwd file"))
            })?;
            uid = p.1;
            gid = p.2;
            user_name = Some(p.0.clone());
        }
        if let Some(g) = g {
            group_from_image = true;
            gid = match g.parse::<u32>() {
                Ok(n) => n,
                Err(_) => groups.iter().find(|x| x.0 == g).map(|x| x.1).ok_or_else(|| {
                    RuntimeError::User(format!("unable to find group {g}: no matching entries in group file"))
                })?,
            };
        }
    }
    if let Some(u) = sec.run_as_user {
        uid = u;
        user_name = passwd.iter().find(|p| p.1 == u).map(|p| p.0.clone());
        if !group_from_image {
            gid = passwd.iter().find(|p| p.1 == u).map(|p| p.2).unwrap_or(0);
        }
    }
    if let Some(g) = sec.run_as_group {
        gid = g;
    }
    let mut additional: Vec<u32> = vec![gid];
    if let Some(name) = &user_name {
        for (_, g, members) in &groups {
            if members.iter().any(|m| m == name) && !additional.contains(g) {
                additional.push(*g);
            }
        }
    }
    for g in &sec.supplemental_groups {
        if !additional.contains(g) {
            additional.push(*g);
        }
    }
    Ok(User { uid, gid, additional_gids: additional })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("etc")).unwrap();
        std::fs::write(d.path().join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nwww:x:33:34::/var/www:/bin/sh\n")
            .unwrap();
        std::fs::write(d.path().join("etc/group"), "root:x:0:\nwww:x:34:\nextra:x:500:www\n").unwrap();
        d
    }

    #[test]
    fn resolves_users_like_containerd() {
        let d = root();
        let sc = |img: Option<&str>, u: Option<u32>, g: Option<u32>, sup: &[u32]| SecurityContext {
            image_user: img.map(str::to_owned),
            run_as_user: u,
            run_as_group: g,
            supplemental_groups: sup.to_vec(),
            ..Default::default()
        };
        let r = |s| resolve(d.path(), &s).unwrap();
        assert_eq!(r(sc(None, None, None, &[])), User { uid: 0, gid: 0, additional_gids: vec![0] });
        assert_eq!(r(sc(Some("www"), None, None, &[])), User { uid: 33, gid: 34, additional_gids: vec![34, 500] });
        assert_eq!(
            r(sc(Some("1000:1000"), None, None, &[])),
            User { uid: 1000, gid: 1000, additional_gids: vec![1000] }
        );
        assert_eq!(r(sc(Some("www:root"), None, None, &[])).gid, 0);
        assert_eq!(r(sc(Some("www"), Some(7), Some(8), &[9])), User { uid: 7, gid: 8, additional_gids: vec![8, 9] });
        assert!(resolve(d.path(), &sc(Some("nobody"), None, None, &[])).is_err());
    }

    #[test]
    fn passwd_symlink_cannot_escape() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("etc")).unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("passwd"), "evil:x:4242:4242::/:/bin/sh\n").unwrap();
        std::os::unix::fs::symlink(outside.path().join("passwd"), d.path().join("etc/passwd")).unwrap();
        // The absolute link is resolved inside the root, where it does not exist.
        let e = resolve(d.path(), &SecurityContext { image_user: Some("evil".into()), ..Default::default() });
        assert!(e.is_err());
    }
}
