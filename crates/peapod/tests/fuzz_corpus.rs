//! The fuzz targets (fuzz/, cargo-fuzz) as a fast part of the normal test
//! suite: each target's entry function runs over its seed corpus
//! (fuzz/corpus/<target>/) and over a few thousand inputs mutated from it
//! with a seeded generator, so CI exercises the same properties in seconds
//! without a fuzzing toolchain. A failure prints the seed and the input.
//!
//! More inputs: `PEAPOD_FUZZ_ITERS=100000 cargo test -p peapod --test fuzz_corpus`;
//! another sequence: `PEAPOD_FUZZ_SEED=<n>`. Real fuzzing: see fuzz/README.md.

#[path = "../../../fuzz/src/lib.rs"]
mod entries;

use std::path::{Path, PathBuf};

/// xorshift64*: a tiny deterministic generator (no dependency, same
/// sequence on every machine for a given seed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
}

/// Byte-level mutations, plus splices with other corpus entries and
/// insertions of tokens that matter to the target's grammar.
fn mutate(rng: &mut Rng, input: &[u8], corpus: &[Vec<u8>], tokens: &[&[u8]]) -> Vec<u8> {
    let mut d = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let pos = rng.below(d.len() + 1);
        match rng.below(7) {
            0 if !d.is_empty() => {
                let i = rng.below(d.len());
                d[i] ^= 1 << rng.below(8);
            }
            1 if !d.is_empty() => {
                let i = rng.below(d.len());
                d[i] = rng.next() as u8;
            }
            2 => {
                let t = rng.pick(tokens);
                d.splice(pos..pos, t.iter().copied());
            }
            3 if !d.is_empty() => {
                let end = (pos + 1 + rng.below(16)).min(d.len());
                d.drain(pos.min(end)..end);
            }
            4 if !d.is_empty() => {
                let a = rng.below(d.len());
                let b = (a + 1 + rng.below(32)).min(d.len());
                let chunk = d[a..b].to_vec();
                d.splice(pos..pos, chunk);
            }
            5 => {
                let other = rng.pick(corpus);
                let a = rng.below(other.len() + 1);
                d.truncate(pos);
                d.extend_from_slice(&other[a..]);
            }
            _ => d.insert(pos.min(d.len()), rng.next() as u8),
        }
    }
    d
}

/// Tar-aware mutation for the unpack target: rewrite a header's type,
/// name, link target or mode with something an attacker would use, and fix
/// its checksum, so the input gets past the archive parser.
fn mutate_tar(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    const NAMES: &[&[u8]] = &[
        b"../escape",
        b"/etc/shadow",
        b"a/../../b",
        b"evil",
        b"evil/pwned",
        b".wh.a",
        b"d/.wh..wh..opq",
        b"a",
        b"a/",
        b"./a/./b",
        b"",
        b"//x",
        b"..",
        b"bin/sh",
        b"l/x",
    ];
    const TYPES: &[u8] = b"0125673xgLKS\0";
    let mut d = input.to_vec();
    let mut headers = Vec::new();
    let mut off = 0;
    while off + 512 <= d.len() && headers.len() < 64 {
        if d[off..off + 512].iter().all(|b| *b == 0) {
            break;
        }
        headers.push(off);
        let size = std::str::from_utf8(&d[off + 124..off + 136])
            .ok()
            .and_then(|s| u64::from_str_radix(s.trim_matches(|c: char| c == '\0' || c == ' '), 8).ok())
            .unwrap_or(0) as usize;
        off += 512 + size.div_ceil(512) * 512;
    }
    let Some(&h) = headers.get(rng.below(headers.len().max(1))) else { return d };
    let set = |d: &mut Vec<u8>, at: usize, len: usize, v: &[u8]| {
        for i in 0..len {
            d[h + at + i] = v.get(i).copied().unwrap_or(0);
        }
    };
    match rng.below(4) {
        0 => d[h + 156] = *rng.pick(TYPES),
        1 => set(&mut d, 0, 100, rng.pick::<&[u8]>(NAMES)),
        2 => set(&mut d, 157, 100, rng.pick::<&[u8]>(NAMES)),
        _ => set(&mut d, 100, 8, format!("{:07o}", rng.next() & 0o7777).as_bytes()),
    }
    // The checksum: the header's bytes summed with the checksum field as spaces.
    d[h + 148..h + 156].fill(b' ');
    let sum: u32 = d[h..h + 512].iter().map(|b| *b as u32).sum();
    let field = format!("{sum:06o}\0 ");
    d[h + 148..h + 156].copy_from_slice(field.as_bytes());
    d
}

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target);
    let mut out: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no seeds in {}", dir.display());
    out
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Run `entry` over the corpus and `iters` mutated inputs.
fn run(target: &str, iters: u64, tokens: &[&[u8]], mut entry: impl FnMut(&[u8]), tar: bool) {
    let seeds = corpus(target);
    for (path, data) in &seeds {
        entry(data);
        let _ = path;
    }
    let seed = env_num("PEAPOD_FUZZ_SEED", 0x5eed_0f9e_a90d);
    let iters = env_num("PEAPOD_FUZZ_ITERS", iters);
    let mut rng = Rng(seed ^ target.len() as u64 ^ 0x9e37_79b9_7f4a_7c15);
    let datas: Vec<Vec<u8>> = seeds.into_iter().map(|(_, d)| d).collect();
    for i in 0..iters {
        let base = rng.pick(&datas).clone();
        let input =
            if tar && rng.below(3) > 0 { mutate_tar(&mut rng, &base) } else { mutate(&mut rng, &base, &datas, tokens) };
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| entry(&input)));
        if let Err(e) = outcome {
            let path = std::env::temp_dir().join(format!("peapod-fuzz-{target}-failure"));
            let _ = std::fs::write(&path, &input);
            panic!(
                "{target}: input #{i} (seed {seed:#x}) failed: {}\ninput saved to {} (reproduce: cargo fuzz run {target} {})",
                e.downcast_ref::<String>().map(String::as_str).or(e.downcast_ref::<&str>().copied()).unwrap_or("panic"),
                path.display(),
                path.display()
            );
        }
    }
}

#[test]
fn yaml_decoding() {
    let tokens: &[&[u8]] = &[
        b": ",
        b"- ",
        b"{",
        b"}",
        b"[",
        b"]",
        b"&a ",
        b"*a",
        b"<<: ",
        b"!!str ",
        b"---\n",
        b"\"",
        b"'",
        b"\n  ",
        b"? ",
        b"0o17",
        b"1e999",
        b"~",
        b"|\n",
        b">-\n",
        b"\\u0000",
        b"kind: List\nitems: []\n",
    ];
    run("yaml", 3000, tokens, entries::yaml, false);
}

#[test]
fn patch_application() {
    let tokens: &[&[u8]] = &[
        b"null",
        b"{}",
        b"[]",
        b"\"$patch\":\"delete\",",
        b"\"$patch\":\"replace\",",
        b"\"$retainKeys\":[\"a\"],",
        b"\"$setElementOrder/containers\":[{\"name\":\"a\"}],",
        b"\"$deleteFromPrimitiveList/args\":[\"x\"],",
        b"{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/a/b\"}",
        b"\"name\":",
        b"\"containers\":[",
        b"-1",
        b"1e308",
        b"\"/~1~0\"",
        b"\n",
    ];
    run("patch", 3000, tokens, entries::patch, false);
}

#[test]
fn layer_unpacking() {
    let scratch = tempfile::tempdir().unwrap();
    let tokens: &[&[u8]] = &[b"../", b"/", b".wh.", b".wh..wh..opq", b"\0", b"ustar\0", b"ustar  \0"];
    run("unpack", 400, tokens, |d| entries::unpack(d, scratch.path()), true);
}

#[test]
fn cri_log_parsing() {
    let tokens: &[&[u8]] = &[b" ", b"stdout", b"stderr", b" P ", b" F ", b"\n", b"\xff"];
    run("cri_log", 3000, tokens, entries::cri_log, false);
}
