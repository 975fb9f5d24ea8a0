//! Expansion: parameters, constants and loop variables resolved; chaining left for run time;
//! `if` decided through a probe.

use davit_toe::{
    Action, Algorithm, Chain, Document, Mode, Probe, StepAction, Value, parse_parameters,
};

const DOC: &str = r#"
name: Expand
schemaVersion: 1.0
parameters:
  - Mode:
      type: string
      default: '0640'
  - Target:
      type: string
constants:
  - Files:
      type: string
      value: a;b;c
phases:
  - name: build
    steps:
      - name: Where
        action: ExecuteBash
        inputs:
          commands: ['echo /srv/{{ Target }}']
      - name: Make
        action: CreateFile
        loop:
          name: files
          forEach:
            list: '{{ Files }}'
            delimiter: ';'
        if:
          and:
            - binaryExists: bash
            - not:
                fileExists: '/srv/{{ Target }}/skip'
          else: Abort
        inputs:
          - path: '{{ build.Where.outputs.stdout }}/{{ files.value }}-{{ loop.index }}'
            permissions: '{{ Mode }}'
  - name: test
    steps:
      - name: Count
        action: ExecuteBash
        loop:
          for: {start: 10, end: 0, updateBy: -5}
        inputs:
          commands: ['echo {{ loop.value }}']
"#;

struct Outputs;
impl Chain for Outputs {
    fn output(&self, phase: &str, step: &str, var: &str) -> Option<String> {
        ((phase, step, var) == ("build", "Where", "stdout")).then(|| "/srv/web".to_owned())
    }
    fn input(&self, _: &str, _: &str, _: Option<usize>, _: &str) -> Option<String> {
        None
    }
}

struct Machine {
    skip: bool,
}
impl Probe for Machine {
    fn binary_exists(&self, name: &str) -> bool {
        name == "bash"
    }
    fn file_exists(&self, path: &str) -> bool {
        self.skip && path == "/srv/web/skip"
    }
    fn folder_exists(&self, _: &str) -> bool {
        false
    }
    fn file_digest(&self, _: &str, _: Algorithm) -> Option<String> {
        None
    }
    fn pattern_matches(&self, pattern: &str, value: &str) -> Result<bool, String> {
        Ok(pattern == value)
    }
}

#[test]
fn loops_and_parameters_resolve_and_chaining_waits() {
    let doc = Document::parse("expand.yml", DOC).unwrap();
    let bound = doc.bind(&parse_parameters("Target=web").unwrap()).unwrap();
    let plan = doc.expand(&bound).unwrap();
    let make = &plan.phases[0].steps[1];
    assert_eq!(
        make.decide(&Outputs, &Machine { skip: false }).unwrap(),
        StepAction::Execute
    );
    assert_eq!(
        make.decide(&Outputs, &Machine { skip: true }).unwrap(),
        StepAction::Abort
    );
    let runs: Vec<_> = make.iterations().unwrap().map(Result::unwrap).collect();
    assert_eq!(runs.len(), 3);
    let Action::CreateFile(files) = &runs[2].action else {
        panic!()
    };
    assert_eq!(
        files[0].path.to_string(),
        "{{ build.Where.outputs.stdout }}/c-2"
    );
    assert_eq!(files[0].path.resolve(&Outputs).unwrap(), "/srv/web/c-2");
    assert_eq!(
        files[0].permissions.as_ref().and_then(Value::literal),
        Some(&Mode(0o640))
    );

    let count = &plan.phases[1].steps[0];
    let values: Vec<String> = count
        .iterations()
        .unwrap()
        .map(|r| match r.unwrap().action {
            Action::ExecuteBash(b) => b.commands[0].as_literal().unwrap(),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(values, ["echo 10", "echo 5", "echo 0"]);
}

#[test]
fn binding_reports_every_problem() {
    let doc = Document::parse("expand.yml", DOC).unwrap();
    let err = doc
        .bind(&parse_parameters("Files=x,Nope=1").unwrap())
        .unwrap_err();
    assert_eq!(err.errors().len(), 3, "{err}");
}
