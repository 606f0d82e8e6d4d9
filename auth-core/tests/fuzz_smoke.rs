//! The fuzz targets' bodies (fuzz/harness.rs) on stable, in every `cargo test`: each runs
//! over its checked-in corpus (fuzz/corpus/<target>) and 3,000 fixed-seed mutations of it
//! (byte flips, insertions, deletions, splices, truncations). The long runs are
//! `cargo +nightly fuzz run <target>` (see the README's security notes).

#[path = "../../fuzz/harness.rs"]
mod harness;

use std::path::Path;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        usize::try_from(self.0 % (1 << 31)).unwrap_or(0)
    }
}

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .filter_map(|entry| std::fs::read(entry.ok()?.path()).ok())
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    seeds
}

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seeds[rng.next() % seeds.len()].clone();
    for _ in 0..=rng.next() % 4 {
        let len = data.len().max(1);
        match rng.next() % 6 {
            0 if !data.is_empty() => {
                let i = rng.next() % data.len();
                data[i] ^= 1 << (rng.next() % 8);
            }
            1 => {
                let i = rng.next() % (data.len() + 1);
                let byte = *b"\0\t\n \"'.,:{}[]=%\\\xff\xc3AZaz09-_"
                    .get(rng.next() % 26)
                    .unwrap_or(&b'x');
                data.insert(i, byte);
            }
            2 if !data.is_empty() => {
                let i = rng.next() % data.len();
                data.remove(i);
            }
            3 => {
                let other = &seeds[rng.next() % seeds.len()];
                let cut = rng.next() % (other.len() + 1);
                let at = rng.next() % (data.len() + 1);
                data.splice(at..at, other[..cut].iter().copied());
            }
            4 => data.truncate(rng.next() % len),
            _ => {
                let i = rng.next() % (data.len() + 1);
                let run = rng.next() % 64;
                data.splice(i..i, std::iter::repeat_n(b'[', run));
            }
        }
    }
    data
}

#[test]
fn every_fuzz_target_survives_its_corpus_and_mutations() {
    for (name, target) in harness::TARGETS {
        let seeds = corpus(name);
        for seed in &seeds {
            target(seed);
        }
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..3_000 {
            target(&mutate(&mut rng, &seeds));
        }
    }
}
