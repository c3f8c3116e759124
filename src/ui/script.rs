//! A scripted session, for benchmarks and demonstrations: with
//! `LAMINA_SCRIPT=FILE` the window carries out the file's steps one after
//! another, each once the window is idle (no background job, no training,
//! no file dialog), through the same [`Action`]s the panels return. With
//! `LAMINA_FRAME_LOG` this measures the window during each action
//! (`benches/frame_times.py`). One step per line; `#` starts a comment:
//!
//! ```text
//! template mlp_classifier DATA LABELS EXP       create from a template
//! open PATH                                     an experiment or run folder
//! set KEY=VALUE                                 as `lamina train --set`
//! train                                         and wait until it ends
//! export-model DIR | export-plots DIR | export-latent FILE
//! predict FILE                                  with the model just trained
//! explain                                       the Explain view, as it is set
//! pause SECONDS                                 idle frames
//! quit
//! ```

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::Action;
use super::dialogs::Purpose;

/// One step of a script.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Template {
        name: String,
        data: PathBuf,
        labels: Option<PathBuf>,
        experiment: PathBuf,
    },
    Set(String),
    Train,
    Act(Action),
    Predict(PathBuf),
    Explain,
    Pause(Duration),
    Quit,
}

/// The steps still to do.
pub struct Script {
    steps: VecDeque<Step>,
    paused_until: Option<Instant>,
}

impl Script {
    /// The script `LAMINA_SCRIPT` names, if it is set; a script that cannot
    /// be read or parsed is an error naming the line.
    pub fn from_env() -> Result<Option<Script>, String> {
        let Some(path) = std::env::var_os("LAMINA_SCRIPT").filter(|p| !p.is_empty()) else {
            return Ok(None);
        };
        let path = PathBuf::from(path);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read the script {}: {e}", path.display()))?;
        Script::parse(&text)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Script, String> {
        let mut steps = VecDeque::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            let path = |k: usize| {
                words
                    .get(k)
                    .map(PathBuf::from)
                    .ok_or_else(|| format!("line {}: '{}' needs a path", i + 1, words[0]))
            };
            let step = match words[0] {
                "template" => {
                    if words.len() != 4 && words.len() != 5 {
                        return Err(format!(
                            "line {}: template NAME DATA [LABELS] EXPERIMENT",
                            i + 1
                        ));
                    }
                    Step::Template {
                        name: words[1].to_string(),
                        data: path(2)?,
                        labels: (words.len() == 5).then(|| PathBuf::from(words[3])),
                        experiment: path(words.len() - 1)?,
                    }
                }
                "open" => Step::Act(Action::Open(path(1)?)),
                "set" => Step::Set(words.get(1).copied().unwrap_or_default().to_string()),
                "train" => Step::Train,
                "export-model" => Step::Act(Action::UsePath(Purpose::ExportModel, path(1)?)),
                "export-plots" => Step::Act(Action::UsePath(Purpose::ExportPlots, path(1)?)),
                "export-latent" => Step::Act(Action::UsePath(Purpose::ExportLatent, path(1)?)),
                "predict" => Step::Predict(path(1)?),
                "explain" => Step::Explain,
                "pause" => {
                    let s: f64 = words
                        .get(1)
                        .and_then(|w| w.parse().ok())
                        .filter(|s: &f64| s.is_finite() && *s >= 0.0)
                        .ok_or_else(|| format!("line {}: pause SECONDS", i + 1))?;
                    Step::Pause(Duration::from_secs_f64(s))
                }
                "quit" => Step::Quit,
                other => return Err(format!("line {}: unknown step '{other}'", i + 1)),
            };
            steps.push_back(step);
        }
        Ok(Script {
            steps,
            paused_until: None,
        })
    }

    /// The next step, when the window is `idle` and no pause runs.
    pub fn next(&mut self, idle: bool) -> Option<Step> {
        if let Some(until) = self.paused_until {
            if Instant::now() < until {
                return None;
            }
            self.paused_until = None;
        }
        if !idle {
            return None;
        }
        let step = self.steps.pop_front()?;
        if let Step::Pause(d) = step {
            self.paused_until = Some(Instant::now() + d);
        }
        Some(step)
    }
}

/// The template called `name` (its `lamina new` name).
pub fn template_index(name: &str) -> Option<usize> {
    crate::spec::templates::Template::all()
        .iter()
        .position(|t| t.name() == name)
}

/// `path` as the start form's field holds it.
pub fn shown(path: &Path) -> String {
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_reads_its_steps_and_names_a_bad_line() {
        let s = Script::parse(
            "# a session\ntemplate classifier c.csv l.csv e.json\ntrain\nexport-model m # the folder\npause 0.5\nquit\n",
        )
        .unwrap();
        assert_eq!(s.steps.len(), 5);
        assert_eq!(
            s.steps[0],
            Step::Template {
                name: "classifier".into(),
                data: "c.csv".into(),
                labels: Some("l.csv".into()),
                experiment: "e.json".into(),
            }
        );
        assert_eq!(
            s.steps[2],
            Step::Act(Action::UsePath(Purpose::ExportModel, "m".into()))
        );
        let err = Script::parse("train\nfly away\n").err().unwrap();
        assert_eq!(err, "line 2: unknown step 'fly'");
        assert!(template_index("mlp_classifier").is_some());
    }
}
