//! Tests of `pods.rs`: cgroup paths of every driver and runtime, the kubelet's names, and the
//! attribution over the fixture node tree `tests/fixtures/node` (written by its `make-node.py`).
use std::path::PathBuf;

use super::*;
use crate::discovery::LocalServer;
use crate::sys::RawProcess;

const ID: &str = "ec8207a3dde607f7867f8f5390915018488b877761306ffd4ef099f9b3ee16a1";
const UID: &str = "7c0e5b8e-4f0a-4b1e-9d4c-2a6f3e1b9c01";

fn node() -> (PathBuf, PathBuf) {
    let base = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/node");
    (base.join("proc"), base.join("rootfs"))
}

fn ids(uid: &str, id: &str) -> Option<CgroupIds> {
    Some(CgroupIds { pod_uid: uid.into(), container_id: id.into() })
}

#[test]
fn cgroup_paths_of_each_driver_and_runtime() {
    let u = UID.replace('-', "_");
    let cases = [
        // containerd: systemd driver (v2), cgroupfs driver (v1, several hierarchies)
        (format!("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{u}.slice/cri-containerd-{ID}.scope\n"), ids(UID, ID)),
        (format!("12:pids:/kubepods/besteffort/pod{UID}/{ID}\n11:memory:/kubepods/besteffort/pod{UID}/{ID}\n0::/\n"), ids(UID, ID)),
        // CRI-O: systemd and cgroupfs drivers; conmon's cgroup is the pod's, no container
        (format!("0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{u}.slice/crio-{ID}.scope\n"), ids(UID, ID)),
        (format!("0::/kubepods/burstable/pod{UID}/crio-{ID}\n"), ids(UID, ID)),
        (format!("0::/kubepods/burstable/pod{UID}/crio-conmon-{ID}\n"), ids(UID, "")),
        // cri-dockerd: systemd driver (a Guaranteed pod: no QoS slice), cgroupfs driver
        (format!("0::/kubepods.slice/kubepods-pod{u}.slice/docker-{ID}.scope\n"), ids(UID, ID)),
        (format!("11:pids:/kubepods/pod{UID}/{ID}\n"), ids(UID, ID)),
        // seen from a private cgroup namespace; kind's nesting; a static pod's 32-hex UID
        (format!("0::/../../kubepods-burstable-pod{u}.slice/cri-containerd-{ID}.scope\n"), ids(UID, ID)),
        (
            format!("0::/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod{u}.slice/cri-containerd-{ID}.scope\n"),
            ids(UID, ID),
        ),
        (
            format!("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod6b4c1e2f8d9a0b1c2d3e4f5a6b7c8d9e.slice/cri-containerd-{ID}.scope\n"),
            ids("6b4c1e2f8d9a0b1c2d3e4f5a6b7c8d9e", ID),
        ),
        // a process in the pod's own cgroup
        (format!("0::/kubepods/besteffort/pod{UID}\n"), ids(UID, "")),
    ];
    for (cgroup, want) in cases {
        assert_eq!(parse_cgroup(&cgroup), want, "{cgroup}");
    }
}

#[test]
fn off_kubernetes_there_is_no_pod() {
    for cgroup in [
        format!("0::/system.slice/docker-{ID}.scope\n"),
        format!("12:memory:/docker/{ID}\n"),
        format!("0::/machine.slice/libpod-{ID}.scope\n"),
        "0::/system.slice/llama-server.service\n".into(),
        "0::/user.slice/user-1000.slice/session-2.scope\n".into(),
        "0::/kubepods.slice/kubepods-burstable.slice\n".into(),
        "0::/kubepods/burstable/podnot-a-uid/x\n".into(),
        "0::/\n".into(),
        "garbage".into(),
        String::new(),
    ] {
        assert_eq!(parse_cgroup(&cgroup), None, "{cgroup}");
    }
}

#[test]
fn kubelet_names_split_exactly() {
    let names = NodeNames::from_entries(
        [format!("inference_vllm-llama-7d9f8c6b5-x2k4q_{UID}").as_str(), "not-a-pod-folder", "a_b_c_d"],
        [format!("vllm-llama-7d9f8c6b5-x2k4q_inference_vllm-main-{ID}.log").as_str(), "README", "x_y_z-short.log"],
    );
    let want = |container: Option<&str>| {
        Some(PodRef {
            namespace: "inference".into(),
            pod: "vllm-llama-7d9f8c6b5-x2k4q".into(),
            container: container.map(String::from),
        })
    };
    // A container name with dashes: the id is what follows the last one.
    assert_eq!(names.lookup(&CgroupIds { pod_uid: UID.into(), container_id: ID.into() }), want(Some("vllm-main")));
    assert_eq!(names.lookup(&CgroupIds { pod_uid: UID.into(), container_id: String::new() }), want(None));
    assert_eq!(names.lookup(&CgroupIds { pod_uid: "0".repeat(32), container_id: ID.into() }), None);
    // A container link of another pod is not taken for this one.
    let other = NodeNames::from_entries(
        [format!("inference_vllm-llama-7d9f8c6b5-x2k4q_{UID}").as_str()],
        [format!("other-pod_inference_vllm-{ID}.log").as_str()],
    );
    assert_eq!(other.lookup(&CgroupIds { pod_uid: UID.into(), container_id: ID.into() }), want(None));
}

#[cfg(target_os = "linux")]
#[test]
fn attribution_on_the_fixture_node() {
    let (proc_root, rootfs) = node();
    let pids = 101..=114;
    let mut processes: Vec<RawProcess> = pids
        .clone()
        .map(|pid| {
            // The container id as linux.rs reads it, before attribution.
            let cgroup = fs::read_to_string(proc_root.join(pid.to_string()).join("cgroup")).unwrap_or_default();
            RawProcess {
                pid,
                comm: "llama-server".into(),
                container: crate::sys::linux::container_id(&cgroup),
                ..RawProcess::default()
            }
        })
        .collect();
    attribute(&proc_root, &rootfs, &mut processes);
    let got: Vec<(u32, &str, &str, &str)> = processes
        .iter()
        .map(|raw| (raw.pid, raw.namespace.as_str(), raw.pod.as_str(), raw.container.as_str()))
        .collect();
    let vllm = "vllm-llama-7d9f8c6b5-x2k4q";
    let ollama = "ollama-6c8d7f9b4-q7w2e";
    assert_eq!(
        got,
        [
            (101, "inference", vllm, "vllm"),                           // containerd, systemd
            (102, "inference", "llama-cpp-0", "llama"),                 // containerd, cgroupfs, v1
            (103, "research", "sglang-qwen-5f6d4b8c9-mm2vz", "sglang"), // CRI-O, systemd
            (104, "research", "tgi-0", "tgi"),                          // CRI-O, cgroupfs
            (105, "default", ollama, "ollama"),                         // cri-dockerd, systemd
            (106, "default", ollama, "metrics-sidecar"),                // cri-dockerd, cgroupfs, v1
            (107, "kube-system", "gpu-probe-node1", "probe"),           // static pod, cgroup namespace
            (108, "inference", vllm, "worker"),                         // kind
            (109, "inference", vllm, "4396319e4137"),                   // no log link: the short id
            (110, "", "", "283bb9deef02"),                              // a pod the node has no folder for
            (111, "", "", "d548c5b83fa6"),                              // docker
            (112, "", "", "2f259bab93aa"),                              // podman
            (113, "", "", ""),                                          // a systemd service
            (114, "", "", ""),                                          // a user session
        ]
    );
}

#[test]
fn a_node_without_kubelet_folders_attributes_nothing() {
    let (proc_root, _) = node();
    let mut processes = [RawProcess { pid: 101, container: "ec8207a3dde6".into(), ..RawProcess::default() }];
    attribute(&proc_root, Path::new("/nonexistent/rootfs"), &mut processes);
    assert_eq!((processes[0].namespace.as_str(), processes[0].container.as_str()), ("", "ec8207a3dde6"));
}

#[test]
fn discovered_servers_in_pods_are_named_namespace_dot_pod() {
    let (proc_root, rootfs) = node();
    let server = |pid: u32, port: Option<u16>, name: &str, configured: bool| LocalServer {
        pid,
        process: "llama-server".into(),
        backend: "llamacpp",
        port,
        target: None,
        name: name.into(),
        configured,
        kv: None,
    };
    let mut view = LocalView {
        servers: vec![
            server(101, Some(8000), "vllm:8000", false),
            server(102, None, "llama-server", false),
            server(103, Some(30000), "mine", true),
            server(113, Some(8080), "llama-server:8080", false),
        ],
        ..LocalView::default()
    };
    name_servers(&proc_root, &rootfs, &mut view);
    let names: Vec<&str> = view.servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["inference.vllm-llama-7d9f8c6b5-x2k4q:8000", "inference.llama-cpp-0", "mine", "llama-server:8080"]
    );
}

#[test]
fn node_names_are_kept_until_a_folder_changes() {
    use std::time::{Duration, SystemTime};
    let rootfs = tempfile::tempdir().unwrap();
    let (pods, containers) = (rootfs.path().join("var/log/pods"), rootfs.path().join("var/log/containers"));
    std::fs::create_dir_all(&containers).unwrap();
    std::fs::create_dir_all(pods.join(format!("llm_alpha_{UID}"))).unwrap();
    let now = SystemTime::now();
    let age = |dir: &PathBuf, seconds: u64| {
        std::fs::File::open(dir).unwrap().set_modified(now - Duration::from_secs(seconds)).unwrap();
    };
    let pod_of = |uid: &str| NodeNames::read_kept(rootfs.path()).lookup(&ids(uid, "").unwrap()).map(|p| p.pod);
    let other = "0f0e5b8e-4f0a-4b1e-9d4c-2a6f3e1b9c02";
    age(&pods, 60);
    age(&containers, 60);
    assert_eq!(pod_of(UID).as_deref(), Some("alpha"));

    // A pod folder added in the same clock tick as the last read: the folder's time stays, so
    // the names kept are used (this is what the time is trusted for, and why a folder changed
    // in the last seconds is not kept).
    std::fs::create_dir(pods.join(format!("llm_beta_{other}"))).unwrap();
    age(&pods, 60);
    assert_eq!(pod_of(other), None, "kept");
    // Any other time: read again, and not kept while that time is recent.
    age(&pods, 30);
    assert_eq!(pod_of(other).as_deref(), Some("beta"));
    std::fs::remove_dir(pods.join(format!("llm_beta_{other}"))).unwrap();
    assert_eq!(pod_of(other), None, "removed a moment ago: read again");
}
