//! What the runner remembers of the steps that ran: each step's resolved inputs and its
//! outputs, by `phase.step`, answered through [`davit_toe::Chain`] and written to
//! `chaining.json`.

use std::collections::BTreeMap;

use davit_toe::Chain;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::inputs::{input_text, scalar_text};

/// The inputs and outputs of one step, as it last ran.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Chained {
    /// The inputs sent to the action, as JSON.
    pub inputs: Json,
    /// The outputs it returned, a JSON object (empty when it produced none).
    pub outputs: Json,
}

/// Every step's [`Chained`] values, keyed `phase.step`, in order.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChainStore {
    steps: BTreeMap<String, Chained>,
}

impl ChainStore {
    fn key(phase: &str, step: &str) -> String {
        format!("{phase}.{step}")
    }

    /// Records a step's inputs (before it runs: a later step may chain them even if it fails).
    pub fn set_inputs(&mut self, phase: &str, step: &str, inputs: Json) {
        self.steps.entry(Self::key(phase, step)).or_default().inputs = inputs;
    }

    /// Records a step's outputs.
    pub fn set_outputs(&mut self, phase: &str, step: &str, outputs: Json) {
        self.steps
            .entry(Self::key(phase, step))
            .or_default()
            .outputs = outputs;
    }

    /// The values of `phase.step`, if it ran.
    pub fn get(&self, phase: &str, step: &str) -> Option<&Chained> {
        self.steps.get(&Self::key(phase, step))
    }
}

impl Chain for ChainStore {
    fn output(&self, phase: &str, step: &str, var: &str) -> Option<String> {
        scalar_text(self.get(phase, step)?.outputs.get(var)?)
    }

    fn input(&self, phase: &str, step: &str, index: Option<usize>, var: &str) -> Option<String> {
        input_text(&self.get(phase, step)?.inputs, index, var)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_outputs_and_inputs_by_phase_and_step() {
        let mut store = ChainStore::default();
        store.set_inputs("build", "Read", json!([{"path": "/a"}, {"path": "/b"}]));
        store.set_outputs("build", "Read", json!({"content": "hi"}));
        assert_eq!(
            store.output("build", "Read", "content").as_deref(),
            Some("hi")
        );
        assert_eq!(
            store.input("build", "Read", Some(1), "path").as_deref(),
            Some("/b")
        );
        assert_eq!(store.output("validate", "Read", "content"), None);
        assert_eq!(
            serde_json::to_value(&store).unwrap(),
            json!({"build.Read": {"inputs": [{"path": "/a"}, {"path": "/b"}], "outputs": {"content": "hi"}}})
        );
    }
}
