//! What `/proc` says about the stack's processes: parents, CPU time and resident memory, and which children of a
//! process are simulator hosts (the launcher gives each its `TRADESIM_HOST_ID` in the environment). The fault
//! tests use it to find the host to kill; the load generator to kill hosts and to sample every process.

use std::fs;

/// `/proc` counts CPU time in the kernel's USER_HZ, which is 100 on every Linux ABI.
pub const TICKS_PER_SECOND: u64 = 100;

/// One reading of a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcessStat {
    pub pid: i32,
    pub parent: i32,
    /// User plus system time, in [`TICKS_PER_SECOND`].
    pub cpu_ticks: u64,
    /// Resident memory (`VmRSS`).
    pub rss_bytes: u64,
}

/// Reads `/proc/<pid>/stat` and `status`; `None` if the process is gone.
pub fn stat(pid: i32) -> Option<ProcessStat> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse(pid, &stat, &status)
}

fn parse(pid: i32, stat: &str, status: &str) -> Option<ProcessStat> {
    // The command name is parenthesized and may hold spaces; the fields after it start with the state (field 3),
    // so the parent (4) is the second, utime (14) the twelfth and stime (15) the thirteenth.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let parent = fields.get(1)?.parse().ok()?;
    let cpu_ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // Kernel threads have no VmRSS line: no resident memory of their own.
    let rss_kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0);
    Some(ProcessStat { pid, parent, cpu_ticks, rss_bytes: rss_kib * 1024 })
}

fn pids() -> impl Iterator<Item = i32> {
    fs::read_dir("/proc").into_iter().flatten().flatten().filter_map(|entry| entry.file_name().to_str()?.parse().ok())
}

/// The processes whose parent is `parent`.
pub fn children(parent: i32) -> Vec<ProcessStat> {
    pids().filter_map(stat).filter(|process| process.parent == parent).collect()
}

/// A simulator host among a process's children.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostProcess {
    pub host_id: String,
    pub pid: i32,
}

/// The children of `parent` that run a simulator host, by the `TRADESIM_HOST_ID` in their environment.
pub fn hosts_of(parent: i32) -> Vec<HostProcess> {
    children(parent)
        .into_iter()
        .filter_map(|child| {
            let environ = fs::read(format!("/proc/{}/environ", child.pid)).ok()?;
            let host_id = environ.split(|byte| *byte == 0).find_map(|var| var.strip_prefix(b"TRADESIM_HOST_ID="))?;
            Some(HostProcess { host_id: String::from_utf8_lossy(host_id).into_owned(), pid: child.pid })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_with_spaces_in_the_name_gives_parent_cpu_and_memory() {
        let stat = "4242 (tokio runtime) S 17 4242 4242 0 -1 4194560 9 0 0 0 250 31 0 0 20 0 5 0 100 1000 50";
        let status = "Name:\ttokio runtime\nVmPeak:\t  9000 kB\nVmRSS:\t    3072 kB\nThreads:\t5\n";
        let parsed = parse(4242, stat, status).unwrap();
        assert_eq!(parsed, ProcessStat { pid: 4242, parent: 17, cpu_ticks: 281, rss_bytes: 3072 * 1024 });
        assert_eq!(parse(1, "garbage", status), None);
    }

    #[test]
    fn this_process_is_found_among_its_parents_children_and_uses_memory() {
        let me = stat(std::process::id() as i32).unwrap();
        assert!(me.rss_bytes > 0);
        assert!(children(me.parent).iter().any(|child| child.pid == me.pid));
    }
}
