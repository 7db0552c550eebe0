//! Pure part of the Apple GPU collector: walks the registry properties of each `IOAccelerator`
//! service (a plain [`Value`] tree, copied out of CoreFoundation by `iokit.rs`) into
//! [`Accelerator`]s, and shapes those into `llm_gpu_*` families. Unit-tested on any host
//! against an `ioreg` dump (`tests/fixtures/apple_gpu/`), read by [`parse_ioreg`].
use crate::family::{labels, Family};

/// A registry property value, as much of CoreFoundation's types as the walk needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    Dict(Vec<(String, Value)>),
    Array(Vec<Value>),
    /// Data, dates and anything else: present, but never read.
    Other,
}

impl Value {
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// A non-negative number (integers, and floats that are finite).
    fn number(&self) -> Option<f64> {
        match self {
            Value::Int(i) if *i >= 0 => Some(*i as f64),
            Value::Float(f) if f.is_finite() && *f >= 0.0 => Some(*f),
            _ => None,
        }
    }

    fn string(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s.as_str()),
            _ => None,
        }
    }
}

/// One GPU as its accelerator service describes it. Everything is optional: drivers differ
/// between chips and macOS releases, and a key that is missing leaves its series out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Accelerator {
    /// `IOClass` (`AGXAcceleratorG13X`, `AMDRadeonX6000_AMDNavi21GraphicsAccelerator`, …).
    pub class: String,
    /// `model` (`Apple M2 Max`); Intel Macs' accelerators have none.
    pub model: Option<String>,
    /// `gpu-core-count` (Apple Silicon only).
    pub cores: Option<u64>,
    /// `PerformanceStatistics` values, as the driver gives them.
    pub device_utilization_percent: Option<f64>,
    pub renderer_utilization_percent: Option<f64>,
    pub tiler_utilization_percent: Option<f64>,
    pub in_use_system_memory_bytes: Option<f64>,
    pub alloc_system_memory_bytes: Option<f64>,
    pub recovery_count: Option<f64>,
}

/// The accelerators among the services' property dictionaries, in registry order (which is
/// the `gpu` index). A service without a `PerformanceStatistics` dictionary is skipped.
pub fn accelerators(services: &[Value]) -> Vec<Accelerator> {
    services
        .iter()
        .filter_map(|props| {
            let stats = props.get("PerformanceStatistics").filter(|s| matches!(s, Value::Dict(_)))?;
            let stat = |key: &str| stats.get(key).and_then(Value::number);
            let percent = |key: &str| stat(key).filter(|p| *p <= 100.0);
            Some(Accelerator {
                class: props.get("IOClass").and_then(Value::string).unwrap_or("").to_string(),
                model: props.get("model").and_then(Value::string).map(str::to_string),
                cores: props.get("gpu-core-count").and_then(Value::number).map(|c| c as u64),
                device_utilization_percent: percent("Device Utilization %"),
                renderer_utilization_percent: percent("Renderer Utilization %"),
                tiler_utilization_percent: percent("Tiler Utilization %"),
                in_use_system_memory_bytes: stat("In use system memory"),
                alloc_system_memory_bytes: stat("Alloc system memory"),
                recovery_count: stat("recoveryCount"),
            })
        })
        .collect()
}

/// The `llm_gpu_*` families of the accelerators; `gpu` is the position in the list.
pub fn shape(gpus: &[Accelerator]) -> Vec<Family> {
    let mut info = Family::gauge(
        "llm_gpu_info",
        "GPU identity: index, name and, on a Mac, the IOKit accelerator class and GPU core count; always 1",
    );
    let g = |name, help| Family::gauge(name, help);
    let mut device = g(
        "llm_gpu_utilization_ratio",
        "Share of time the GPU was busy, 0 to 1 (IOKit IOAccelerator PerformanceStatistics Device Utilization %)",
    );
    let mut renderer = g(
        "llm_gpu_renderer_utilization_ratio",
        "macOS only: share of time the GPU's renderer was busy, 0 to 1 (IOAccelerator PerformanceStatistics Renderer Utilization %)",
    );
    let mut tiler = g(
        "llm_gpu_tiler_utilization_ratio",
        "macOS only: share of time the GPU's tiler was busy, 0 to 1 (IOAccelerator PerformanceStatistics Tiler Utilization %)",
    );
    let mut used = g(
        "llm_gpu_memory_used_bytes",
        "Unified memory the GPU uses now (IOKit IOAccelerator PerformanceStatistics In use system memory)",
    );
    let mut allocated = g(
        "llm_gpu_memory_allocated_bytes",
        "macOS only: unified memory the GPU driver has allocated, in use or not (IOAccelerator PerformanceStatistics Alloc system memory)",
    );
    let mut recoveries = Family::counter(
        "llm_gpu_recoveries_total",
        "macOS only: GPU recoveries (resets after a hang) since boot (IOAccelerator PerformanceStatistics recoveryCount)",
    );
    for (index, gpu) in gpus.iter().enumerate() {
        let id = index.to_string();
        let cores = gpu.cores.map(|c| c.to_string()).unwrap_or_default();
        let name = gpu.model.clone().unwrap_or_else(|| gpu.class.clone());
        info.push(labels([("gpu", id.as_str()), ("name", &name), ("class", &gpu.class), ("cores", &cores)]), 1.0);
        let put = |family: &mut Family, value: Option<f64>| {
            if let Some(v) = value {
                family.push(labels([("gpu", id.as_str())]), v);
            }
        };
        put(&mut device, gpu.device_utilization_percent.map(|p| p / 100.0));
        put(&mut renderer, gpu.renderer_utilization_percent.map(|p| p / 100.0));
        put(&mut tiler, gpu.tiler_utilization_percent.map(|p| p / 100.0));
        put(&mut used, gpu.in_use_system_memory_bytes);
        put(&mut allocated, gpu.alloc_system_memory_bytes);
        put(&mut recoveries, gpu.recovery_count);
    }
    vec![info, device, renderer, tiler, used, allocated, recoveries]
}

/// The property dictionaries of an `ioreg -r -d 1 -w 0 -c CLASS` dump, one per `+-o` entry:
/// `"key" = value` lines, where a value is a number, `Yes`/`No`, a quoted string, `<data>`,
/// or a `{…}` dictionary or `(…)` array in the same notation with `=` and `,`. Anything else
/// becomes [`Value::Other`]; this never fails, it only finds less.
pub fn parse_ioreg(text: &str) -> Vec<Value> {
    let mut services = Vec::new();
    let mut current: Option<Vec<(String, Value)>> = None;
    for line in text.lines() {
        let body = line.trim_start_matches([' ', '|']).trim();
        if body.starts_with("+-o ") {
            services.extend(current.take().map(Value::Dict));
            current = Some(Vec::new());
        } else if let (Some(entries), Some(rest)) = (current.as_mut(), body.strip_prefix('"')) {
            let Some((key, rest)) = rest.split_once('"') else { continue };
            let Some(rest) = rest.trim_start().strip_prefix('=') else { continue };
            let mut chars = rest.trim().chars().peekable();
            entries.push((key.to_string(), value(&mut chars, 0)));
        }
    }
    services.extend(current.map(Value::Dict));
    services
}

type Chars<'a> = std::iter::Peekable<std::str::Chars<'a>>;

/// Nesting deeper than this reads as [`Value::Other`], so a hostile dump cannot overflow the stack.
const MAX_DEPTH: usize = 16;

fn value(chars: &mut Chars, depth: usize) -> Value {
    match chars.peek().copied() {
        Some('"') => {
            chars.next();
            Value::Str(chars.by_ref().take_while(|&c| c != '"').collect())
        }
        Some(open @ ('{' | '(')) if depth < MAX_DEPTH => {
            chars.next();
            let close = if open == '{' { '}' } else { ')' };
            let mut dict = Vec::new();
            let mut array = Vec::new();
            loop {
                match chars.peek().copied() {
                    None => break,
                    Some(c) if c == close => {
                        chars.next();
                        break;
                    }
                    Some(',' | ' ') => {
                        chars.next();
                    }
                    Some('"') if open == '{' => {
                        chars.next();
                        let key: String = chars.by_ref().take_while(|&c| c != '"').collect();
                        if chars.peek() == Some(&'=') {
                            chars.next();
                        }
                        dict.push((key, value(chars, depth + 1)));
                    }
                    Some(_) => array.push(value(chars, depth + 1)),
                }
            }
            if open == '{' {
                Value::Dict(dict)
            } else {
                Value::Array(array)
            }
        }
        _ => {
            // A bare token: up to the next separator of the enclosing notation.
            let mut token = String::new();
            while let Some(&c) = chars.peek() {
                if matches!(c, ',' | '}' | ')') {
                    break;
                }
                token.push(c);
                chars.next();
            }
            if token.is_empty() {
                // A stray closing bracket: step over it, so every call makes progress.
                chars.next();
                return Value::Other;
            }
            match token.trim() {
                "Yes" => Value::Bool(true),
                "No" => Value::Bool(false),
                t => t.parse().map(Value::Int).or_else(|_| t.parse().map(Value::Float)).unwrap_or(Value::Other),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::family::{encode_text, merge};

    fn fixture(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/apple_gpu").join(name);
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn an_apple_silicon_gpu_under_load() {
        let services = parse_ioreg(&fixture("ioreg-m2-max.txt"));
        assert_eq!(services.len(), 2);
        // Nested notation is walked, not just skipped.
        let legend = services[0].get("IOReportLegend");
        assert!(matches!(legend, Some(Value::Array(a)) if a.len() == 1), "{legend:?}");
        assert_eq!(services[0].get("IOMatchedAtBoot"), Some(&Value::Bool(true)));
        let gpus = accelerators(&services);
        assert_eq!(
            gpus,
            [Accelerator {
                class: "AGXAcceleratorG14X".into(),
                model: Some("Apple M2 Max".into()),
                cores: Some(38),
                device_utilization_percent: Some(88.0),
                renderer_utilization_percent: Some(87.0),
                tiler_utilization_percent: Some(61.0),
                in_use_system_memory_bytes: Some(21_474_836_480.0),
                alloc_system_memory_bytes: Some(40_802_189_312.0),
                recovery_count: Some(1.0),
            }]
        );
        let text = encode_text(&merge(shape(&gpus)));
        for want in [
            "llm_gpu_info{gpu=\"0\",name=\"Apple M2 Max\",class=\"AGXAcceleratorG14X\",cores=\"38\"} 1\n",
            "llm_gpu_utilization_ratio{gpu=\"0\"} 0.88\n",
            "llm_gpu_renderer_utilization_ratio{gpu=\"0\"} 0.87\n",
            "llm_gpu_tiler_utilization_ratio{gpu=\"0\"} 0.61\n",
            // "In use system memory", not its "(driver)" sibling, which is 0.
            "llm_gpu_memory_used_bytes{gpu=\"0\"} 21474836480\n",
            "llm_gpu_memory_allocated_bytes{gpu=\"0\"} 40802189312\n",
            "# TYPE llm_gpu_recoveries_total counter\nllm_gpu_recoveries_total{gpu=\"0\"} 1\n",
        ] {
            assert!(text.contains(want), "missing {want} in\n{text}");
        }
    }

    #[test]
    fn intel_macs_give_what_their_drivers_have() {
        let gpus = accelerators(&parse_ioreg(&fixture("ioreg-intel-amd.txt")));
        assert_eq!(gpus.len(), 2);
        assert_eq!((gpus[0].model.as_deref(), gpus[0].cores), (None, None));
        assert_eq!(gpus[0].device_utilization_percent, Some(12.0));
        assert_eq!(gpus[0].in_use_system_memory_bytes, None);
        // Above 100 % is not a utilization: left out rather than exported as 2.5.
        assert_eq!(gpus[1].device_utilization_percent, None);
        let text = encode_text(&merge(shape(&gpus)));
        assert!(text.contains(
            "llm_gpu_info{gpu=\"0\",name=\"AMDRadeonX6000_AMDNavi14GraphicsAccelerator\",class=\"AMDRadeonX6000_AMDNavi14GraphicsAccelerator\",cores=\"\"} 1\n"
        ));
        assert!(text.contains("llm_gpu_utilization_ratio{gpu=\"0\"} 0.12\n"), "{text}");
        assert!(!text.contains("llm_gpu_utilization_ratio{gpu=\"1\"}"), "{text}");
        assert!(!text.contains("llm_gpu_memory_used_bytes"), "{text}");
    }

    #[test]
    fn hostile_and_odd_dumps_never_panic() {
        for text in [
            "",
            "+-o X\n",
            "    \"PerformanceStatistics\" = {\"Device Utilization %\"=50}\n",
            "+-o X\n \"a\" = {\"b\"=(}}}\n",
            "+-o X\n \"a\" = ((((((((((((((((((((((((((((((1))))))))))))))))))))))))))))\n",
            "+-o X\n \"a\" = {\"b\"=\"unterminated\n \"c\n \"d\" =\n",
            "+-o X\n \"PerformanceStatistics\" = {\"Device Utilization %\"=-5,\"In use system memory\"=1e400}\n",
        ] {
            let gpus = accelerators(&parse_ioreg(text));
            let _ = shape(&gpus);
            for g in gpus {
                assert_eq!((g.device_utilization_percent, g.in_use_system_memory_bytes), (None, None), "{text}");
            }
        }
        // Statistics that are not a dictionary: no accelerator.
        let odd = Value::Dict(vec![("PerformanceStatistics".into(), Value::Str("n/a".into()))]);
        assert!(accelerators(&[odd, Value::Int(3)]).is_empty());
    }
}
