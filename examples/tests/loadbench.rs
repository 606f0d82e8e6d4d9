//! The load command runs end to end: every target starts, every request is answered 200 (the
//! generator fails on anything else, so the authenticated targets really verified the token),
//! and the table and ratios are printed. Numbers are not checked here: that is what
//! `BENCHMARKS.md` is for, on a quiet machine.

#[test]
fn loadbench_drives_every_target_and_prints_the_ratios() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_loadbench"))
        .args(["--seconds", "0.1", "--rounds", "1", "--connections", "2"])
        .output()
        .expect("run loadbench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for target in [
        "axum, no auth",
        "axum + portcullis, cache",
        "axum + portcullis, no cache",
        "actix + portcullis, cache",
        "warp + portcullis, cache",
    ] {
        assert!(stdout.contains(target), "{target} missing:\n{stdout}");
    }
    assert!(
        stdout.contains("slowest adapter / fastest adapter"),
        "{stdout}"
    );
}
