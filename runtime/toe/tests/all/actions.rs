//! Every action module with every input key AWS documents (the examples of "Action modules
//! supported by AWSTOE component manager", see `ACTIONS.md`): all accepted, typed, with AWS's
//! defaults; the keys davit-toe once guessed instead are refused.

use davit_toe::{
    Action, Document, Encoding, Mode, MsiReboot, RegistryType, RegistryValue, Timeout, Value,
};

const EVERY_KEY: &str = r#"
schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: Bash
        action: ExecuteBash
        inputs:
          commands: [echo hi]
      - name: Binary
        action: ExecuteBinary
        inputs:
          path: /usr/bin/env
          arguments: [true]
      - name: Nested
        action: ExecuteDocument
        inputs:
          document: s3://my-bucket/Sample-1.yaml
          document-s3-bucket-owner: 123456789012
          phases: build,validate
          parameters:
            - name: parameter-1
              value: value-1
      - name: PowerShell
        action: ExecutePowerShell
        inputs:
          file: C:\a.ps1
      - name: S3Down
        action: S3Download
        inputs:
          - source: s3://mybucket/path/to/*
            destination: /tmp/
            expectedBucketOwner: 123456789022
            overwrite: false
      - name: S3Up
        action: S3Upload
        inputs:
          - source: /tmp/*
            destination: s3://mybucket/path/to/
            recurse: true
            expectedBucketOwner: 123456789022
      - name: Web
        action: WebDownload
        inputs:
          - source: https://testdomain/path/to/java14.zip
            destination: /tmp/
            overwrite: true
            checksum: ac68bbf921d953d1cfab916cb6120864
            algorithm: MD5
            ignoreCertificateErrors: true
      - name: Append
        action: AppendFile
        inputs:
          - path: /tmp/a.txt
            content: more
            encoding: UTF-32
          - path: /tmp/a.txt
      - name: Copy
        action: CopyFile
        inputs:
          - {source: /a, destination: /b/, overwrite: false}
      - name: CopyDir
        action: CopyFolder
        inputs:
          - {source: /a, destination: /b/, overwrite: false}
      - name: Create
        action: CreateFile
        inputs:
          - path: SampleFolder/SampleFile.txt
            content: hello
            encoding: utf-16-BE
            owner: root
            group: '0'
            permissions: '0644'
            overwrite: false
          - path: /tmp/empty
      - name: Folder
        action: CreateFolder
        inputs:
          - {path: /srv/x, owner: root, group: root, permissions: 0755, overwrite: false}
      - name: Link
        action: CreateSymlink
        inputs:
          - {path: /tmp/l, target: /etc/hosts, force: true}
      - name: Rm
        action: DeleteFile
        inputs:
          - path: /tmp/*log
      - name: RmDir
        action: DeleteFolder
        inputs:
          - {path: /tmp/d/, force: true}
      - name: List
        action: ListFiles
        inputs:
          - {path: /var/log/, fileNamePattern: '*log', recursive: true}
      - name: Move
        action: MoveFile
        inputs:
          - {source: /a, destination: /b, overwrite: false}
      - name: MoveDir
        action: MoveFolder
        inputs:
          - {source: /a, destination: /b/, overwrite: false}
      - name: Read
        action: ReadFile
        inputs:
          - path: /etc/os-release
            encoding: UTF-32
            printFileContent: true
      - name: Encode
        action: SetFileEncoding
        inputs:
          - {path: /tmp/a.txt, encoding: UTF-16}
          - path: /tmp/b.txt
      - name: Own
        action: SetFileOwner
        inputs:
          - {path: /tmp/a.txt, owner: LinuxUser, group: LinuxUserGroup}
      - name: OwnDir
        action: SetFolderOwner
        inputs:
          - {path: /srv/, owner: LinuxUser, group: LinuxUserGroup, recursive: false}
          - {path: /opt/, owner: LinuxUser}
      - name: Mode
        action: SetFilePermissions
        inputs:
          - {path: /tmp/a.txt, permissions: 766}
      - name: ModeDir
        action: SetFolderPermissions
        inputs:
          - {path: /srv/, permissions: 0777, recursive: false}
          - {path: /opt/, permissions: '755'}
      - name: Install
        action: InstallMSI
        inputs:
          path: C:\sample.msi
          logFile: C:\msilogs\local-path-install.log
          logOptions: '*VX'
          reboot: Skip
          properties:
            COMPANYNAME: '"Amazon Web Services"'
          ignoreAuthenticodeSignatureErrors: true
          allowUnsignedInstaller: true
      - name: Uninstall
        action: UninstallMSI
        inputs:
          path: https://example.com/sample.msi
      - name: Registry
        action: SetRegistry
        inputs:
          - {path: HKLM:\SOFTWARE\MySoftWare, name: MyName, value: FirstVersionSoftware, type: SZ}
          - {path: HKEY_CURRENT_USER\Software\Test, name: Version, value: 1.1, type: DWORD}
          - {path: HKLM:\SOFTWARE\Multi, name: Names, value: [a, b], type: MULTI_SZ}
      - name: Check
        action: Assert
        inputs:
          stringEquals: '2.1.1'
          value: '{{ build.Bash.outputs.stdout }}'
      - name: Update
        action: UpdateOS
        inputs:
          include: [KB1234567, '*Security*']
          exclude: [ec2-hibinit-agent]
      - name: Restart
        action: Reboot
        inputs:
          delaySeconds: 60
      - name: Chained
        action: ExecuteBash
        inputs:
          commands:
            - 'echo {{ build.Binary.outputs.stdout }} {{ build.Web.outputs.destination }}'
            - 'echo {{ build.List.outputs.files }} {{ build.Read.outputs.content }}'
            - 'echo {{ build.Nested.outputs.status }} {{ build.Install.outputs.msiExitCode }}'
            - 'echo {{ build.Read.inputs[0].path }} {{ build.Registry.inputs[2].name }}'
            - 'echo {{ build.Binary.inputs.path }} {{ build.Nested.inputs.document }}'
"#;

const DEFAULTS: &str = r#"
schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: a
        action: WebDownload
        inputs:
          - {source: 'https://x/a', destination: /a}
      - name: b
        action: S3Download
        inputs:
          - {source: 's3://b/k', destination: /k}
      - name: c
        action: S3Upload
        inputs:
          - {source: /k, destination: 's3://b/k'}
      - name: d
        action: MoveFolder
        inputs:
          - {source: /a, destination: /b}
      - name: e
        action: CreateSymlink
        inputs:
          - {path: /l, target: /t}
      - name: f
        action: ListFiles
        inputs:
          - path: /
      - name: g
        action: CreateFolder
        inputs:
          - path: /g
      - name: h
        action: Reboot
"#;

fn step<'d>(doc: &'d Document, name: &str) -> &'d Action {
    &doc.phases[0]
        .steps
        .iter()
        .find(|s| s.name == name)
        .unwrap()
        .action
}

fn on(v: &Value<bool>) -> bool {
    *v.literal().unwrap()
}

#[test]
fn every_documented_key_of_every_module_is_accepted() {
    let doc = Document::parse("every.yml", EVERY_KEY).unwrap();
    let names: Vec<&str> = doc.phases[0]
        .steps
        .iter()
        .map(|s| s.action.name())
        .collect();
    for action in davit_toe::ACTIONS {
        assert!(names.contains(action), "{action} is not exercised");
    }
    let Action::ReadFile(read) = step(&doc, "Read") else {
        panic!()
    };
    assert_eq!(read[0].encoding.literal(), Some(&Encoding::Utf32Le));
    assert!(on(&read[0].print_file_content));
    let Action::CreateFile(create) = step(&doc, "Create") else {
        panic!()
    };
    assert_eq!(create[0].encoding.literal(), Some(&Encoding::Utf16Be));
    let Action::SetFolderPermissions(modes) = step(&doc, "ModeDir") else {
        panic!()
    };
    assert_eq!(modes[0].permissions.literal(), Some(&Mode(0o777)));
    let Action::InstallMsi(msi) = step(&doc, "Install") else {
        panic!()
    };
    assert_eq!(msi.reboot.literal(), Some(&MsiReboot::Skip));
    assert_eq!(msi.properties.as_ref().unwrap().0[0].0, "COMPANYNAME");
    let Action::SetRegistry(keys) = step(&doc, "Registry") else {
        panic!()
    };
    assert_eq!(keys[1].kind.literal(), Some(&RegistryType::Dword));
    assert!(matches!(&keys[2].value, RegistryValue::Many(v) if v.len() == 2));
    let Action::ExecuteDocument(nested) = step(&doc, "Nested") else {
        panic!()
    };
    assert_eq!(
        nested
            .document_s3_bucket_owner
            .as_ref()
            .unwrap()
            .to_string(),
        "123456789012"
    );
    let nested = doc.phases[0].steps.iter().find(|s| s.name == "Nested");
    assert_eq!(nested.unwrap().timeout, Timeout::Unlimited);
}

#[test]
fn absent_inputs_take_the_defaults_aws_documents() {
    let doc = Document::parse("every.yml", EVERY_KEY).unwrap();
    let Action::CreateFile(create) = step(&doc, "Create") else {
        panic!()
    };
    assert!(on(&create[1].overwrite));
    assert_eq!(create[1].encoding.literal(), Some(&Encoding::Utf8));
    assert!(create[1].content.is_none() && create[1].permissions.is_none());
    let Action::AppendFile(append) = step(&doc, "Append") else {
        panic!()
    };
    assert!(append[1].content.is_none());
    let Action::SetFileEncoding(enc) = step(&doc, "Encode") else {
        panic!()
    };
    assert_eq!(enc[1].encoding.literal(), Some(&Encoding::Utf8));
    let Action::SetFolderOwner(own) = step(&doc, "OwnDir") else {
        panic!()
    };
    assert!(!on(&own[0].recursive) && on(&own[1].recursive));
    let Action::SetFolderPermissions(modes) = step(&doc, "ModeDir") else {
        panic!()
    };
    assert!(!on(&modes[0].recursive) && on(&modes[1].recursive));
    let Action::UninstallMsi(msi) = step(&doc, "Uninstall") else {
        panic!()
    };
    assert_eq!(msi.reboot.literal(), Some(&MsiReboot::Allow));
    assert!(!on(&msi.ignore_authenticode_signature_errors));
    assert!(!on(&msi.allow_unsigned_installer));
    let Action::DeleteFile(rm) = step(&doc, "Rm") else {
        panic!()
    };
    assert!(!on(&rm[0].force));

    let doc = Document::parse("defaults.yml", DEFAULTS).unwrap();
    let Action::WebDownload(web) = step(&doc, "a") else {
        panic!()
    };
    assert!(on(&web[0].overwrite) && !on(&web[0].ignore_certificate_errors));
    let Action::S3Download(down) = step(&doc, "b") else {
        panic!()
    };
    assert!(on(&down[0].overwrite));
    let Action::S3Upload(up) = step(&doc, "c") else {
        panic!()
    };
    assert!(!on(&up[0].recurse));
    let Action::MoveFolder(mv) = step(&doc, "d") else {
        panic!()
    };
    assert!(on(&mv[0].overwrite));
    let Action::CreateSymlink(link) = step(&doc, "e") else {
        panic!()
    };
    assert!(!on(&link[0].force));
    let Action::ListFiles(list) = step(&doc, "f") else {
        panic!()
    };
    assert!(!on(&list[0].recursive) && list[0].file_name_pattern.is_none());
    let Action::CreateFolder(dir) = step(&doc, "g") else {
        panic!()
    };
    assert!(on(&dir[0].overwrite));
    let Action::Reboot(reboot) = step(&doc, "h") else {
        panic!()
    };
    assert_eq!(reboot.delay_seconds.literal(), Some(&0));
}

#[test]
fn keys_aws_does_not_document_are_refused() {
    for (action, entry, key) in [
        ("ListFiles", "{path: /, fileFilter: '*'}", "fileFilter"),
        ("ListFiles", "{path: /, recurse: true}", "recurse"),
        (
            "CreateSymlink",
            "{path: /l, target: /t, overwrite: true}",
            "overwrite",
        ),
        (
            "SetFolderPermissions",
            "{path: /, permissions: 755, recurse: true}",
            "recurse",
        ),
        (
            "SetFilePermissions",
            "{path: /a, permissions: 755, recursive: true}",
            "recursive",
        ),
        (
            "SetFolderOwner",
            "{path: /, owner: u, recurse: true}",
            "recurse",
        ),
        (
            "SetFileOwner",
            "{path: /a, owner: u, recursive: true}",
            "recursive",
        ),
        (
            "WebDownload",
            "{source: 'https://x', destination: /a, maxRetries: 3}",
            "maxRetries",
        ),
        ("ReadFile", "{path: /a, maxSize: 3}", "maxSize"),
    ] {
        let text = format!(
            "schemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: a\n        action: {action}\n        inputs:\n          - {entry}\n"
        );
        let err = Document::parse("c.yml", &text).unwrap_err().to_string();
        assert!(
            err.contains(&format!("unknown key `{key}`")),
            "{action}: {err}"
        );
    }
}

#[test]
fn outputs_are_named_per_module() {
    assert_eq!(Action::outputs_of("ExecuteBash"), Some(&["stdout"][..]));
    assert_eq!(Action::outputs_of("ListFiles"), Some(&["files"][..]));
    assert_eq!(
        Action::outputs_of("WebDownload"),
        Some(&["destination"][..])
    );
    assert_eq!(Action::outputs_of("S3Download"), Some(&[][..]));
    assert_eq!(
        Action::outputs_of("InstallMSI"),
        Some(&["logFile", "msiExitCode", "stdout"][..])
    );
    for action in davit_toe::ACTIONS {
        assert!(Action::outputs_of(action).is_some(), "{action}");
    }
}
