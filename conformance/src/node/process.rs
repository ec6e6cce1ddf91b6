//! The adapter process: started from a command line, fed one request line
//! at a time, its answer lines read with a time limit. A process that dies
//! or overruns the limit is killed and started again for the next vector.

use super::protocol::{self, Answer, Request};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Duration;

/// Splits a command line into words: spaces separate words; single or
/// double quotes group; a backslash escapes the next character outside
/// single quotes.
pub fn split_command(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => word.push(c),
            (_, '\\') => {
                word.push(chars.next().ok_or("a trailing backslash")?);
                in_word = true;
            }
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("an unclosed quote".into());
    }
    if in_word {
        words.push(word);
    }
    if words.is_empty() {
        return Err("an empty command".into());
    }
    Ok(words)
}

/// A running adapter.
pub struct Adapter {
    words: Vec<String>,
    child: Option<Running>,
    timeout: Duration,
    /// The id of the last command sent with [`Adapter::command`].
    commands: u64,
}

/// Why an exchange with the adapter failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Broken {
    /// The adapter's process ended (or closed its output) without
    /// answering.
    Exited(String),
    /// Anything else: a line that is no answer, another id, no answer in
    /// time, a pipe that would not take the request.
    Other(String),
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Broken::Exited(why) | Broken::Other(why) => f.write_str(why),
        }
    }
}

struct Running {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<std::io::Result<String>>,
}

impl Adapter {
    /// An adapter started from `command` (split by [`split_command`]) on
    /// first use.
    pub fn new(command: &str, timeout: Duration) -> Result<Adapter, String> {
        Ok(Adapter {
            words: split_command(command)?,
            child: None,
            timeout,
            commands: 0,
        })
    }

    /// Another adapter from the same command line (not started yet).
    pub fn sibling(&self) -> Adapter {
        Adapter {
            words: self.words.clone(),
            child: None,
            timeout: self.timeout,
            commands: 0,
        }
    }

    fn start(&self) -> Result<Running, String> {
        let mut child = Command::new(&self.words[0])
            .args(&self.words[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start the adapter {:?}: {e}", self.words[0]))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Running {
            child,
            stdin,
            lines: rx,
        })
    }

    /// Sends one request and waits for its answer. On any failure the
    /// process is stopped (the next call starts a new one).
    pub fn ask(&mut self, request: &Request) -> Result<Answer, String> {
        let line = serde_json::to_string(request).map_err(|e| e.to_string())?;
        self.send(request.id, &line).map_err(|e| e.to_string())
    }

    /// Sends one history command (`args` an object) and waits for its
    /// answer, as [`Adapter::ask`] does.
    pub fn command(&mut self, name: &str, args: serde_json::Value) -> Result<Answer, Broken> {
        self.commands += 1;
        let command = protocol::Command {
            id: self.commands,
            command: name.to_string(),
            args,
        };
        let line = serde_json::to_string(&command).map_err(|e| Broken::Other(e.to_string()))?;
        self.send(command.id, &line)
    }

    fn send(&mut self, id: u64, line: &str) -> Result<Answer, Broken> {
        let result = self.exchange(id, line);
        if result.is_err() {
            self.stop();
        }
        result
    }

    fn exchange(&mut self, id: u64, line: &str) -> Result<Answer, Broken> {
        if self.child.is_none() {
            self.child = Some(self.start().map_err(Broken::Other)?);
        }
        let running = self.child.as_mut().expect("started");
        if let Err(e) = writeln!(running.stdin, "{line}").and_then(|_| running.stdin.flush()) {
            return Err(Broken::Exited(format!("cannot write to the adapter: {e}")));
        }
        loop {
            let line = match running.lines.recv_timeout(self.timeout) {
                Ok(Ok(line)) => line,
                Ok(Err(e)) => {
                    return Err(Broken::Other(format!(
                        "cannot read the adapter's answer: {e}"
                    )))
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(Broken::Other(format!(
                        "no answer within {:?}",
                        self.timeout
                    )))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = running.child.try_wait().ok().flatten();
                    return Err(Broken::Exited(format!(
                        "the adapter closed its output{}",
                        status.map(|s| format!(" ({s})")).unwrap_or_default()
                    )));
                }
            };
            if line.trim().is_empty() {
                continue;
            }
            let answer = Answer::parse(&line).map_err(Broken::Other)?;
            if answer.id != id {
                return Err(Broken::Other(format!(
                    "the answer's id {} is not the request's {id}",
                    answer.id
                )));
            }
            return Ok(answer);
        }
    }

    /// Closes the adapter's input and waits a little for it to exit; kills
    /// it otherwise.
    pub fn stop(&mut self) {
        if let Some(mut r) = self.child.take() {
            drop(r.stdin);
            for _ in 0..100 {
                if let Ok(Some(_)) = r.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            let _ = r.child.kill();
            let _ = r.child.wait();
        }
    }
}

impl Drop for Adapter {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_line_splits_into_words_with_quotes() {
        assert_eq!(
            split_command(r#"python3 "my adapter.py" --store 'a b' x\ y"#).unwrap(),
            vec!["python3", "my adapter.py", "--store", "a b", "x y"]
        );
        assert!(split_command("a 'b").is_err());
        assert!(split_command("  ").is_err());
    }
}
