//! Where training runs: the one place that decides. A GPU through wgpu when an
//! adapter exists that is not a software (CPU) renderer; otherwise burn's `flex`
//! CPU backend. The choice and its reason are reported to the user.

use std::sync::{Mutex, OnceLock};

use burn::tensor::wgpu::wgpu;
use burn::tensor::{Device, DeviceKind};
use serde::{Deserialize, Serialize};

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DevicePreference {
    /// A GPU if there is one, else the CPU.
    #[default]
    Auto,
    /// A GPU or an error.
    Gpu,
    /// The CPU even when a GPU exists.
    Cpu,
}

impl std::str::FromStr for DevicePreference {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "gpu" => Ok(Self::Gpu),
            "cpu" => Ok(Self::Cpu),
            other => Err(format!("unknown device '{other}'; use auto, gpu or cpu")),
        }
    }
}

/// The device training runs on, and why.
#[derive(Debug, Clone)]
pub struct DeviceChoice {
    pub device: Device,
    /// e.g. "NVIDIA H100 (Vulkan)" or "CPU (flex)".
    pub name: String,
    pub is_gpu: bool,
    /// Why this device, in plain words.
    pub reason: String,
    /// The GPU's driver and its version, as the adapter reports them.
    pub driver: Option<String>,
}

impl DeviceChoice {
    pub fn cpu(reason: impl Into<String>) -> DeviceChoice {
        DeviceChoice {
            device: Device::flex(),
            name: format!("CPU (flex, {} threads)", rayon_threads()),
            is_gpu: false,
            reason: reason.into(),
            driver: None,
        }
    }
}

fn rayon_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// A hardware GPU adapter found by wgpu.
#[derive(Debug, Clone)]
pub struct GpuAdapter {
    pub name: String,
    pub backend: String,
    /// e.g. "NVIDIA 550.54.14"; empty parts left out.
    pub driver: String,
    pub kind: DeviceKind,
}

/// Set to 1 to let a software (CPU) adapter such as Mesa's lavapipe count as
/// a GPU: it runs the GPU code path on a machine without one, for checking it
/// (about 100 times slower than the CPU backend, so never chosen otherwise).
pub const SOFTWARE_GPU_VAR: &str = "LAMINA_SOFTWARE_GPU";

/// Run `f` (the adapter search) with what the system's graphics libraries
/// print kept from the terminal when it is only the Wayland client's
/// "XDG_RUNTIME_DIR is invalid or not set" (printed on machines without a
/// desktop session, on every run): the rest of what they print is passed on.
#[cfg(unix)]
fn without_wayland_noise<T>(f: impl FnOnce() -> T) -> T {
    use std::io::{Read, Seek, Write};
    use std::os::fd::AsRawFd;
    if std::env::var_os("XDG_RUNTIME_DIR").is_some() {
        return f();
    }
    let path = std::env::temp_dir().join(format!("lamina-stderr-{}", std::process::id()));
    let Ok(mut caught) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
    else {
        return f();
    };
    let _ = std::fs::remove_file(&path);
    let _ = std::io::stderr().flush();
    // SAFETY: plain descriptor calls on descriptors this function owns; fd 2
    // is put back before returning.
    let saved = unsafe { libc::dup(2) };
    if saved < 0 || unsafe { libc::dup2(caught.as_raw_fd(), 2) } < 0 {
        return f();
    }
    let out = f();
    unsafe {
        libc::dup2(saved, 2);
        libc::close(saved);
    }
    let mut text = String::new();
    if caught.rewind().is_ok() && caught.read_to_string(&mut text).is_ok() {
        let rest: String = text
            .lines()
            .filter(|l| !l.contains("XDG_RUNTIME_DIR"))
            .map(|l| format!("{l}\n"))
            .collect();
        let _ = std::io::stderr().write_all(rest.as_bytes());
    }
    out
}

#[cfg(not(unix))]
fn without_wayland_noise<T>(f: impl FnOnce() -> T) -> T {
    f()
}

/// Look for adapters. Returns the first hardware GPU, and the names of software
/// adapters seen (for the message when there is none).
pub fn find_gpu() -> (Option<GpuAdapter>, Vec<String>) {
    let accept_software = std::env::var(SOFTWARE_GPU_VAR).is_ok_and(|v| v == "1");
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends: wgpu::Backends::PRIMARY,
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    });
    let adapters = without_wayland_noise(|| {
        futures_lite::future::block_on(instance.enumerate_adapters(wgpu::Backends::PRIMARY))
    });
    let mut software = Vec::new();
    let (mut discrete, mut integrated, mut virt) = (0usize, 0usize, 0usize);
    let mut found = None;
    for a in adapters {
        let info = a.get_info();
        let kind = match info.device_type {
            wgpu::DeviceType::DiscreteGpu => {
                discrete += 1;
                DeviceKind::DiscreteGpu(discrete - 1)
            }
            wgpu::DeviceType::IntegratedGpu => {
                integrated += 1;
                DeviceKind::IntegratedGpu(integrated - 1)
            }
            wgpu::DeviceType::VirtualGpu => {
                virt += 1;
                DeviceKind::VirtualGpu(virt - 1)
            }
            wgpu::DeviceType::Cpu if accept_software && found.is_none() => DeviceKind::Cpu,
            wgpu::DeviceType::Cpu | wgpu::DeviceType::Other => {
                software.push(info.name.clone());
                continue;
            }
        };
        // Prefer a discrete GPU over an integrated one.
        let better = match (&found, &kind) {
            (None, _) => true,
            (
                Some(GpuAdapter {
                    kind: DeviceKind::DiscreteGpu(_),
                    ..
                }),
                _,
            ) => false,
            (Some(_), DeviceKind::DiscreteGpu(_)) => true,
            _ => false,
        };
        if better {
            found = Some(GpuAdapter {
                name: info.name.clone(),
                backend: format!("{:?}", info.backend),
                driver: format!("{} {}", info.driver, info.driver_info)
                    .trim()
                    .to_string(),
                kind,
            });
        }
    }
    (found, software)
}

/// The GPU device, initialised once per process (burn's runtime cannot be set up twice).
fn gpu_device() -> Result<DeviceChoice, String> {
    static GPU: OnceLock<Mutex<Option<Result<DeviceChoice, String>>>> = OnceLock::new();
    let cell = GPU.get_or_init(|| Mutex::new(None));
    let mut guard = cell.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(done) = guard.as_ref() {
        return done.clone();
    }
    let (gpu, software) = find_gpu();
    let result = match gpu {
        Some(adapter) => match Device::wgpu_options()
            .device_kind(adapter.kind.clone())
            .init()
        {
            Ok(device) => Ok(DeviceChoice {
                device,
                name: format!("{} ({})", adapter.name, adapter.backend),
                is_gpu: true,
                reason: "a GPU adapter was found".into(),
                driver: Some(adapter.driver.clone()).filter(|d| !d.is_empty()),
            }),
            Err(e) => Err(format!(
                "the GPU '{}' could not be started: {e}",
                adapter.name
            )),
        },
        None if software.is_empty() => Err("no GPU adapter found".into()),
        None => Err(format!(
            "no GPU adapter found (only the software renderer {}, which is slower than the CPU backend)",
            software.join(", ")
        )),
    };
    *guard = Some(result.clone());
    result
}

/// Choose the device for a preference.
pub fn choose(pref: DevicePreference) -> Result<DeviceChoice, String> {
    match pref {
        DevicePreference::Cpu => Ok(DeviceChoice::cpu("the CPU was chosen")),
        DevicePreference::Gpu => gpu_device(),
        DevicePreference::Auto => Ok(gpu_device().unwrap_or_else(DeviceChoice::cpu)),
    }
}
