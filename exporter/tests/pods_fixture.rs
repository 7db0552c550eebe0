//! Pod attribution end to end: the fixture proc tree (`tests/fixtures/proc/basic`) copied with
//! its llama-server (PID 100) moved into a Kubernetes pod's cgroup (containerd, systemd driver),
//! and a node root with the kubelet's names: the exporter labels the process with its
//! namespace, pod and container, and names the discovered server `NAMESPACE.POD:PORT`.
mod common;

use std::fs;
use std::path::Path;

use common::*;

const UID: &str = "7c0e5b8e-4f0a-4b1e-9d4c-2a6f3e1b9c01";
const ID: &str = "ec8207a3dde607f7867f8f5390915018488b877761306ffd4ef099f9b3ee16a1";

/// Copies a fixture tree, links (`fd/`, `exe`) as links.
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().unwrap();
        if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&src).unwrap(), &dst).unwrap();
        } else if kind.is_dir() {
            copy_tree(&src, &dst);
        } else {
            fs::copy(&src, &dst).unwrap();
        }
    }
}

#[tokio::test]
async fn a_server_in_a_pod_gets_its_names() {
    let dir = tempfile::tempdir().unwrap();
    let (proc_root, rootfs) = (dir.path().join("proc"), dir.path().join("rootfs"));
    copy_tree(Path::new(&format!("{}/tests/fixtures/proc/basic", env!("CARGO_MANIFEST_DIR"))), &proc_root);
    let u = UID.replace('-', "_");
    fs::write(
        proc_root.join("100/cgroup"),
        format!(
            "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{u}.slice/cri-containerd-{ID}.scope\n"
        ),
    )
    .unwrap();
    let pods = rootfs.join(format!("var/log/pods/inference_llama-7d9f8c6b5-x2k4q_{UID}/llama"));
    fs::create_dir_all(&pods).unwrap();
    fs::write(pods.join("0.log"), "").unwrap();
    fs::create_dir_all(rootfs.join("var/log/containers")).unwrap();
    fs::write(rootfs.join(format!("var/log/containers/llama-7d9f8c6b5-x2k4q_inference_llama-{ID}.log")), "").unwrap();

    let exporter = Exporter::start(&[
        "--path.procfs",
        proc_root.to_str().unwrap(),
        "--path.rootfs",
        rootfs.to_str().unwrap(),
        "--no-collector.nvml",
        "--no-collector.llm",
    ]);
    let body = exporter.scrape().await;
    let info: Vec<&str> = body.lines().filter(|l| l.starts_with("llm_process_info{")).collect();
    let want = "llm_process_info{server=\"inference.llama-7d9f8c6b5-x2k4q:8080\",process=\"llama-server\",pid=\"100\",\
                workload=\"llm_inference\",container=\"llama\",namespace=\"inference\",pod=\"llama-7d9f8c6b5-x2k4q\"} 1";
    assert!(info.contains(&want), "no {want} in\n{}", info.join("\n"));
    // Processes outside pods keep empty names.
    assert!(info.iter().filter(|l| !l.contains("pid=\"100\"")).all(|l| l.contains("namespace=\"\",pod=\"\"")));
    // Every series of the process carries the same server name.
    let cpu = body.lines().filter(|l| l.starts_with("llm_process_cpu_seconds_total{") && l.contains("pid=\"100\""));
    assert!(
        cpu.clone().count() == 2
            && cpu.into_iter().all(|l| l.contains("server=\"inference.llama-7d9f8c6b5-x2k4q:8080\""))
    );
}
