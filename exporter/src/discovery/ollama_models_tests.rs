//! Tests of `ollama_models.rs`: runner command lines of every Ollama release, manifest paths to
//! names, the pick among tags that share a blob, and a models directory that is hostile.
use std::fs;
use std::path::Path;

use super::*;

pub(crate) const A: &str = "6a0746a1ec1aef3e7ec53868f220ff6e389f6f8ef87a01d77c96807de94ca2aa";
pub(crate) const B: &str = "b112e727c6f18875636c56a779790a590d705aec9e1c0eb5a97d51fc2a778583";
pub(crate) const C: &str = "0ba8f0e314b4264dfd19df045cde9d4c394a52474bf92ed6a3de22a4ca31a177";

pub(crate) fn args(line: &str) -> Vec<String> {
    line.split_whitespace().map(String::from).collect()
}

fn blob(models: &str, digest: &str) -> Option<RunnerModel> {
    Some(RunnerModel::Blob { models: models.into(), digest: digest.into() })
}

#[test]
fn runner_command_lines_of_each_release_name_their_blob() {
    let models = "/usr/share/ollama/.ollama/models";
    for line in [
        format!("/usr/bin/ollama runner --model {models}/blobs/sha256-{A} --port 40000"),
        format!("/usr/bin/ollama runner --ollama-engine --model {models}/blobs/sha256-{A} --port 40000"),
        format!("/usr/lib/ollama/llama-server --model {models}/blobs/sha256-{A} --port 40001 --host 127.0.0.1"),
        format!("/tmp/ollama123/runners/cuda_v12/ollama_llama_server --model {models}/blobs/sha256-{A} --port 1"),
        format!("/usr/bin/ollama runner --model={models}/blobs/sha256-{A} --port 40000"),
        format!("/usr/bin/ollama runner --model {models}//blobs/sha256-{} --port 40000", A.to_uppercase()),
        format!("/usr/bin/ollama runner --model {models}/./blobs/sha256:{A}"),
    ] {
        assert_eq!(runner_model(&args(&line)), blob(models, A), "{line}");
    }
    assert_eq!(runner_model(&args(&format!("ollama runner --model /blobs/sha256-{A}"))), blob("/", A));
}

#[test]
fn the_mlx_engine_names_its_model_itself() {
    let mlx = |model: &str| {
        let mut line = args("/usr/local/bin/ollama runner --mlx-engine --model");
        line.extend([model.to_string(), "--port".into(), "1".into()]);
        runner_model(&line)
    };
    assert_eq!(mlx("qwen3:8b"), Some(RunnerModel::Name("qwen3:8b".into())));
    assert_eq!(mlx("team/qwen3"), Some(RunnerModel::Name("team/qwen3".into())));
    assert_eq!(mlx("localhost:5000/team/qwen3:q4"), Some(RunnerModel::Name("localhost:5000/team/qwen3:q4".into())));
    for bad in ["../../etc/passwd", "a/b/c/d:e", "-x", "q:", "a b", "team./m", &"m".repeat(81)] {
        assert_eq!(mlx(bad), None, "{bad}");
    }
    // Without the engine's flag a name is not taken: only a blob is.
    assert_eq!(runner_model(&args("/usr/bin/ollama runner --model qwen3:8b --port 1")), None);
}

#[test]
fn command_lines_without_a_usable_model_give_none() {
    for line in [
        "/usr/bin/ollama runner --ollama-engine --port 40000".to_string(),
        "/usr/bin/ollama runner --port 40000 --model".to_string(),
        "/usr/bin/ollama serve".to_string(),
        String::new(),
        format!("/usr/bin/ollama runner --model /m/blobs/../../etc/blobs/sha256-{A}"),
        format!("/usr/bin/ollama runner --model models/blobs/sha256-{A}"),
        format!("/usr/bin/ollama runner --model /m/other/sha256-{A}"),
        format!("/usr/bin/ollama runner --model /m/blobs/sha256-{}", &A[1..]),
        format!("/usr/bin/ollama runner --model /m/blobs/sha256-{}zz", &A[2..]),
        format!("/usr/bin/ollama runner --model /m/blobs/sha512-{A}"),
        format!("/usr/bin/ollama runner --models /m/blobs/sha256-{A}"),
        "/usr/bin/ollama runner --model /m/blobs/sha256-é".to_string(),
    ] {
        assert_eq!(runner_model(&args(&line)), None, "{line}");
    }
}

#[test]
fn manifest_paths_become_the_names_ollama_shows() {
    assert_eq!(display_name("registry.ollama.ai", "library", "llama3", "8b"), "llama3:8b");
    assert_eq!(display_name("Registry.Ollama.AI", "Library", "llama3", "latest"), "llama3:latest");
    assert_eq!(display_name("registry.ollama.ai", "team", "llama3", "8b"), "team/llama3:8b");
    assert_eq!(display_name("hf.co", "bartowski", "Qwen-GGUF", "Q4_K_M"), "hf.co/bartowski/Qwen-GGUF:Q4_K_M");
    assert_eq!(display_name("localhost:5000", "library", "m", "v1"), "localhost:5000/library/m:v1");
}

pub(crate) fn manifest(model: &str) -> String {
    format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:{C}","size":561}},"layers":[{{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:{model}","size":2019377376}},{{"mediaType":"application/vnd.ollama.image.template","digest":"sha256:{C}","size":1429}}]}}"#
    )
}

pub(crate) fn write(models: &Path, path: &str, body: &str) {
    let path = models.join("manifests").join(path);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, body).unwrap();
}

/// `names_by_blob` of the directory at `path`, opened as the collector opens it.
fn listed(path: &Path) -> Option<HashMap<String, String>> {
    names_by_blob(&Dir::open(path).ok()?)
}

fn names(models: &Path) -> Vec<(String, String)> {
    let mut names: Vec<_> = listed(&models.join("manifests")).unwrap_or_default().into_iter().collect();
    names.sort();
    names
}

fn pair(digest: &str, name: &str) -> (String, String) {
    (digest.into(), name.into())
}

#[test]
fn tags_that_share_a_blob_give_one_name_latest_first() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path();
    write(models, "registry.ollama.ai/library/llama3.2/3b", &manifest(A));
    write(models, "registry.ollama.ai/library/llama3.2/latest", &manifest(A));
    write(models, "hf.co/bartowski/Llama-3.2-3B-GGUF/Q4_K_M", &manifest(A));
    write(models, "registry.ollama.ai/team/tuned/v2", &manifest(B));
    write(models, "registry.ollama.ai/team/tuned/v1", &manifest(B));
    assert_eq!(names(models), [pair(A, "llama3.2:latest"), pair(B, "team/tuned:v1")]);
    // Without a `latest`, the lexically first name, whatever order the directory lists.
    fs::remove_file(models.join("manifests/registry.ollama.ai/library/llama3.2/latest")).unwrap();
    assert_eq!(names(models), [pair(A, "hf.co/bartowski/Llama-3.2-3B-GGUF:Q4_K_M"), pair(B, "team/tuned:v1")]);
}

#[test]
fn the_last_model_layer_counts_and_other_layers_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let two = format!(
        r#"{{"layers":[{{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:{A}"}},{{"mediaType":"application/vnd.ollama.image.projector","digest":"sha256:{C}"}},{{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:{}"}}]}}"#,
        B.to_uppercase()
    );
    write(dir.path(), "registry.ollama.ai/library/m/latest", &two);
    assert_eq!(names(dir.path()), [pair(B, "m:latest")]);
}

#[test]
fn a_hostile_models_directory_costs_only_its_own_names() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    write(&models, "registry.ollama.ai/library/good/latest", &manifest(A));
    // Too long (valid JSON padded past the cap), not JSON, JSON of another shape, no model layer.
    let padded = manifest(B).replacen('{', &format!("{{\"pad\":\"{}\",", " ".repeat(MANIFEST_CAP as usize)), 1);
    write(&models, "registry.ollama.ai/library/huge/latest", &padded);
    write(&models, "registry.ollama.ai/library/bad/latest", "{\"layers\":[{\"mediaType\":");
    write(&models, "registry.ollama.ai/library/odd/latest", "{\"layers\":{\"mediaType\":7}}");
    write(
        &models,
        "registry.ollama.ai/library/nomodel/latest",
        r#"{"layers":[{"mediaType":"x","digest":"sha256:1"}]}"#,
    );
    write(&models, "registry.ollama.ai/library/short/latest", &manifest(&B[..10]));
    // Names Ollama refuses, and files at the wrong depth.
    write(&models, "registry.ollama.ai/library/.hidden/latest", &manifest(B));
    write(&models, "registry.ollama.ai/lib.rary/m/latest", &manifest(B));
    write(&models, "registry.ollama.ai/library/m/a:b", &manifest(B));
    write(&models, "registry.ollama.ai/library/m/latest/deeper", &manifest(B));
    write(&models, "registry.ollama.ai/library/shallow", &manifest(B));
    // Links, to a file or a directory outside the models directory, are not followed.
    let outside = dir.path().join("outside");
    write(&outside, "registry.ollama.ai/library/x/latest", &manifest(B));
    let lib = models.join("manifests/registry.ollama.ai/library");
    std::os::unix::fs::symlink(outside.join("manifests/registry.ollama.ai/library/x/latest"), lib.join("good/linked"))
        .unwrap();
    std::os::unix::fs::symlink(outside.join("manifests/registry.ollama.ai/library/x"), lib.join("linkdir")).unwrap();
    std::os::unix::fs::symlink(outside.join("manifests/registry.ollama.ai"), models.join("manifests/evil.example"))
        .unwrap();
    // A FIFO is not waited on.
    let fifo = std::ffi::CString::new(lib.join("good/fifo").to_str().unwrap()).unwrap();
    // SAFETY: `fifo` is a NUL-terminated path that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    assert_eq!(names(&models), [pair(A, "good:latest")]);

    assert_eq!(listed(&dir.path().join("nowhere")), None);
    let not_a_dir = dir.path().join("file");
    fs::write(&not_a_dir, "x").unwrap();
    assert_eq!(listed(&not_a_dir), None);
    // Listed but empty: nothing found, and remembered as such.
    fs::create_dir_all(dir.path().join("empty/manifests")).unwrap();
    assert_eq!(listed(&dir.path().join("empty/manifests")), Some(HashMap::new()));
}

#[test]
fn the_walk_stops_at_its_budget() {
    let dir = tempfile::tempdir().unwrap();
    let tags = dir.path().join("manifests/registry.ollama.ai/library/m");
    fs::create_dir_all(&tags).unwrap();
    for i in 0..MAX_MANIFESTS + 10 {
        fs::write(tags.join(format!("t{i}")), manifest(&format!("{i:064x}"))).unwrap();
    }
    assert_eq!(listed(&dir.path().join("manifests")).map(|n| n.len()), Some(MAX_MANIFESTS));
}

#[test]
fn the_walk_reads_at_most_its_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let tags = dir.path().join("manifests/registry.ollama.ai/library/m");
    fs::create_dir_all(&tags).unwrap();
    // Manifests just under the cap: the byte budget runs out long before the count does.
    let big = |i: usize| {
        let body = manifest(&format!("{i:064x}"));
        let pad = " ".repeat(MANIFEST_CAP as usize - body.len() - 16);
        body.replacen('{', &format!("{{\"pad\":\"{pad}\","), 1)
    };
    for i in 0..300 {
        fs::write(tags.join(format!("t{i}")), big(i)).unwrap();
    }
    let found = listed(&dir.path().join("manifests")).map(|n| n.len()).unwrap_or(0);
    assert!(found > 0 && found < (MAX_WALK_BYTES / (MANIFEST_CAP - 16)) as usize + 1, "{found}");
}
