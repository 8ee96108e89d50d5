//! Processes by PID, read from `/proc` (Linux): whose children they are, whether they live, and
//! what they use (CPU time, memory, context switches).

use std::time::{Duration, Instant};

/// The PIDs of the live processes whose parent is `parent`.
pub fn children(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| parent_of(pid) == Some(parent))
        .collect()
}

/// The parent of `pid`, while it lives.
fn parent_of(pid: u32) -> Option<u32> {
    let stat = stat_after_comm(pid)?;
    let mut fields = stat.split_whitespace();
    let state = fields.next()?;
    if state == "Z" {
        return None;
    }
    fields.next()?.parse().ok()
}

/// `/proc/<pid>/stat` from the field after the command name (`state ppid …`): the name may hold
/// spaces and parentheses, so the fields start after the last `)`.
fn stat_after_comm(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.to_owned())
}

/// Whether `pid` is alive (a zombie is not).
pub fn is_alive(pid: u32) -> bool {
    parent_of(pid).is_some()
}

/// Waits up to `limit` for every one of `pids` to end; returns those still alive.
pub fn survivors(pids: &[u32], limit: Duration) -> Vec<u32> {
    let started = Instant::now();
    loop {
        let alive: Vec<u32> = pids.iter().copied().filter(|&pid| is_alive(pid)).collect();
        if alive.is_empty() || started.elapsed() >= limit {
            return alive;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The CPU time `pid` has used so far (user + system, all its threads), while it lives.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = stat_after_comm(pid)?;
    // After the comm: state(3) ppid … utime(14) stime(15), counted from field 3.
    let mut fields = stat.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    // SAFETY: sysconf reads a constant of the system; no memory is involved.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let ticks = u64::try_from(ticks).ok().filter(|&t| t > 0)?;
    Some(Duration::from_micros((user + system) * 1_000_000 / ticks))
}

/// A `kB` figure of `/proc/<pid>/status` (e.g. `VmHWM`, the peak resident set; `VmRSS`).
pub fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Context switches (voluntary and not) of every thread of `pid` so far: how often its threads
/// handed the CPU over.
pub fn context_switches(pid: u32) -> Option<u64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0;
    for task in tasks.flatten() {
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        total += status
            .lines()
            .filter(|line| line.contains("ctxt_switches:"))
            .filter_map(|line| line.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum::<u64>();
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_read_from_proc() {
        let pid = std::process::id();
        assert_eq!(parent_of(pid), Some(std::os::unix::process::parent_id()));
        let before = cpu_time(pid).expect("CPU time of a live process");
        let started = Instant::now();
        let mut spin = 0u64;
        while cpu_time(pid) == Some(before) && started.elapsed() < Duration::from_secs(5) {
            spin = std::hint::black_box(spin.wrapping_add(1));
        }
        assert!(
            cpu_time(pid).unwrap() > before,
            "spinning shows as CPU time"
        );
        let resident = status_kb(pid, "VmRSS").unwrap();
        assert!(
            status_kb(pid, "VmHWM").unwrap() >= resident,
            "the peak is at least what was resident"
        );
        assert!(context_switches(pid).is_some());
    }
}
