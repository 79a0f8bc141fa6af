//! Process figures from `/proc`: CPU time of a process group, peak RSS, bytes read.

use std::fs;

use edgeauth_e2e::stack::BoxError;

/// Clock ticks per second for `/proc/<pid>/stat` times.
fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// The fields after `comm` in `/proc/<pid>/stat` (comm may contain spaces and parentheses).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = text.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// User + system CPU seconds used so far by every process in the process group `pgid`
/// (the stack starts each service as a group leader; `wrangler dev` is node plus two workerds).
pub fn group_cpu_seconds(pgid: u32) -> Result<f64, BoxError> {
    let mut ticks = 0u64;
    let mut found = false;
    for entry in fs::read_dir("/proc")? {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Some(fields) = stat_fields(pid) else {
            continue;
        };
        // After comm: state(0) ppid(1) pgrp(2) ... utime(11) stime(12).
        if fields.get(2).and_then(|g| g.parse::<u32>().ok()) != Some(pgid) {
            continue;
        }
        let field = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok());
        ticks += field(11).unwrap_or(0) + field(12).unwrap_or(0);
        found = true;
    }
    if !found {
        return Err(format!("no process in group {pgid}").into());
    }
    Ok(ticks as f64 / ticks_per_second())
}

/// A value in KiB from `/proc/<pid>/status` (`VmHWM`: peak resident set size).
pub fn status_kib(pid: u32, field: &str) -> Result<u64, BoxError> {
    let text = fs::read_to_string(format!("/proc/{pid}/status"))?;
    text.lines()
        .find_map(|line| {
            line.strip_prefix(field)?
                .strip_prefix(':')?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .ok_or_else(|| format!("no {field} in /proc/{pid}/status").into())
}

/// Bytes the process has read through system calls so far (`rchar`; sockets included).
pub fn bytes_read(pid: u32) -> Result<u64, BoxError> {
    let text = fs::read_to_string(format!("/proc/{pid}/io"))?;
    text.lines()
        .find_map(|line| line.strip_prefix("rchar:")?.trim().parse().ok())
        .ok_or_else(|| format!("no rchar in /proc/{pid}/io").into())
}

/// The model name of the first CPU and the number of CPUs, for the report.
pub fn machine() -> String {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")?
                .split_once(':')
                .map(|(_, m)| m.trim())
        })
        .unwrap_or("unknown CPU")
        .to_owned();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_kib = fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("MemTotal:")?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse::<u64>()
                .ok()
        })
        .unwrap_or(0);
    format!("{cpus} × {model}, {} GiB RAM", mem_kib / (1024 * 1024))
}
