//! The workload class of a process (`llm_process_info{workload}`): a `[[process.match]]` rule
//! may set it, and the process collector gives it; it lives with the config so that the config
//! needs nothing from the collectors.

/// Workload classes of `llm_process_info{workload}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    LlmInference,
    MlTraining,
    GpuCompute,
    Graphics,
    Other,
}

impl Workload {
    pub fn as_str(self) -> &'static str {
        match self {
            Workload::LlmInference => "llm_inference",
            Workload::MlTraining => "ml_training",
            Workload::GpuCompute => "gpu_compute",
            Workload::Graphics => "graphics",
            Workload::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Result<Workload, String> {
        const ALL: [Workload; 5] =
            [Workload::LlmInference, Workload::MlTraining, Workload::GpuCompute, Workload::Graphics, Workload::Other];
        ALL.into_iter().find(|w| w.as_str() == s).ok_or_else(|| {
            let names: Vec<&str> = ALL.iter().map(|w| w.as_str()).collect();
            format!("'{s}' is not one of {}", names.join(", "))
        })
    }
}
