//! `stdio.prompt` under `weave run`: with a terminal it prompts as Lune
//! does (each kind answered through a pseudo-terminal); without one it
//! raises an error at the script's line, on the master and on an actor.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

fn prompt_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/luau/prompt.luau")
}

/// `weave run prompt.luau <kind>` with stdin, stdout and stderr piped.
fn without_terminal(kind: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weave"))
        .arg("run")
        .arg(prompt_script())
        .arg(kind)
        .stdin(Stdio::null())
        .output()
        .expect("weave runs")
}

#[test]
fn without_a_terminal_prompt_raises_at_the_scripts_line() {
    let output = without_terminal("text");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(&format!(
            "{}:24: stdio.prompt needs a terminal to prompt on, and stderr is not one",
            prompt_script().display()
        )),
        "{stderr}"
    );
}

#[test]
fn without_a_terminal_prompt_on_an_actor_fails_the_item() {
    let output = without_terminal("actor");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("prompt_worker.luau:6: stdio.prompt needs a terminal"),
        "{stdout}"
    );
}

/// Starts `weave run prompt.luau <kind>` on a pseudo-terminal made by
/// util-linux's `script`, ended by `timeout` after 20 s if it hangs.
fn on_terminal(kind: &str) -> Child {
    let command = format!(
        "'{}' run '{}' {kind}",
        env!("CARGO_BIN_EXE_weave"),
        prompt_script().display()
    );
    Command::new("timeout")
        .args(["20", "script", "-qec", &command, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("`timeout` and util-linux's `script` run (they give the prompt a terminal)")
}

/// The answer the script printed, once it ended.
fn answer(kind: &str, child: Child) -> String {
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{kind}: {output:?}\n{stdout}");
    let marker = format!("ANSWER {kind} ");
    let start = stdout.find(&marker).unwrap_or_else(|| panic!("{stdout}")) + marker.len();
    stdout[start..].lines().next().unwrap().trim().to_owned()
}

/// The keys are typed ahead; the terminal keeps them until the prompt
/// reads. A select starts with nothing highlighted (the first arrow
/// highlights the first item); a multiselect with the cursor on the first.
/// Runs prompt.luau `kind` on a terminal, typing `keys` at once.
fn with_terminal(kind: &str, keys: &[u8]) -> String {
    let mut child = on_terminal(kind);
    child.stdin.take().unwrap().write_all(keys).unwrap();
    answer(kind, child)
}

#[test]
fn with_a_terminal_every_kind_of_prompt_answers() {
    assert_eq!(with_terminal("text", b"hello\r"), "hello");
    assert_eq!(with_terminal("confirm", b"y"), "true");
    assert_eq!(with_terminal("select", b"\x1b[B\x1b[B\r"), "2");
    assert_eq!(with_terminal("multiselect", b" \x1b[B\x1b[B \r"), "1,3");
}

/// A prompt waiting for its answer does not block the master: another
/// thread's `task.wait()` loop prints its ticks, and only after the third
/// does the test type the answer (were the master blocked, no tick would
/// come and `timeout` would end the run, failing the test).
#[test]
fn a_waiting_prompt_does_not_block_the_master() {
    let mut child = on_terminal("ticking");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("TICK 3") {
        let read = stdout.read_until(b'\n', &mut seen).unwrap();
        assert!(
            read > 0,
            "no third tick: {}",
            String::from_utf8_lossy(&seen)
        );
    }
    child.stdin.take().unwrap().write_all(b"typed\r").unwrap();
    stdout.read_to_end(&mut seen).unwrap();
    let seen = String::from_utf8_lossy(&seen);
    assert!(child.wait().unwrap().success(), "{seen}");
    assert!(seen.contains("ANSWER ticking typed"), "{seen}");
}
