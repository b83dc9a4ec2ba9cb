//! The workload catalog: every workload the guest program runs, its parameters, their
//! defaults and ranges. One table, read by the host's job validation (harness-core), the
//! documentation test and the guest program (defaults of a parameter the plan leaves out).

/// A workload the guest image knows, and its parameters.
#[derive(Debug)]
pub struct WorkloadInfo {
    pub name: &'static str,
    pub about: &'static str,
    /// A targeted trigger for the deadlock hunt (jobs/deadlock-hunt-*.yaml): slow and disruptive
    /// (it evicts the client's MDS session), so not in the default job.
    pub hunt: bool,
    /// Programs it runs from the host's userland (`guests.userland: host`: the host's `/usr`
    /// exported read-only), as (path in `/usr`, Debian package). Empty: the initramfs suffices.
    pub host_tools: &'static [(&'static str, &'static str)],
    /// (name, default, min, max, meaning)
    pub params: &'static [(&'static str, u64, u64, u64, &'static str)],
}

/// Workloads that rely on another one having run before them in the same boot, as
/// (workload, the workload it needs). None does today: every workload makes and removes its own
/// files in its own directory. A bisection boot that runs only the workload a failure showed in
/// (docs/bisection.md) also runs what that workload needs.
pub const NEEDS: &[(&str, &str)] = &[];

/// Workloads the guest image knows. The names are what job files use.
pub const WORKLOADS: &[WorkloadInfo] = &[
    WorkloadInfo {
        name: "umount-stress",
        about: "mount/unmount cycles with writers, readers and unlinkers; unmount right after \
                dirtying, with inodes cached, with writeback in flight, and lazily with files \
                open; remount and verify",
        hunt: false,
        host_tools: &[],
        params: &[
            (
                "cycles",
                4,
                1,
                10_000,
                "mount/unmount cycles (the four unmount kinds in turn)",
            ),
            (
                "workers",
                4,
                1,
                64,
                "writer threads (readers: half as many)",
            ),
            ("files", 200, 2, 1_000_000, "files per writer and cycle"),
        ],
    },
    WorkloadInfo {
        name: "iput-stress",
        about: "short-lived processes in a small memory cgroup create, write, truncate, rename, \
                link, unlink and read ahead, and exit before writeback; caches dropped meanwhile",
        hunt: false,
        host_tools: &[],
        params: &[
            ("rounds", 3, 1, 10_000, "rounds of processes"),
            ("processes", 12, 1, 1000, "concurrent processes per round"),
            ("files", 20, 1, 100_000, "files per process"),
            (
                "memory_mib",
                48,
                16,
                65_536,
                "memory.max of their cgroup, MiB",
            ),
        ],
    },
    WorkloadInfo {
        name: "snap-stress",
        about: "snapshots taken and removed while files are rewritten and fsynced; every \
                snapshot must hold whole versions",
        hunt: false,
        host_tools: &[],
        params: &[
            (
                "snapshots",
                8,
                1,
                10_000,
                "snapshots taken (the last two are kept until the end)",
            ),
            ("writers", 2, 1, 64, "writer threads"),
            ("files", 16, 1, 100_000, "files rewritten"),
        ],
    },
    WorkloadInfo {
        name: "cap-revoke",
        about: "two clients (a second noshare mount) take turns on the same files, so the MDS \
                revokes caps back and forth; then each appends while the other reads",
        hunt: false,
        host_tools: &[],
        params: &[
            (
                "rounds",
                120,
                1,
                1_000_000,
                "turns (write, read, append, chmod/stat, fsync)",
            ),
            ("files", 8, 1, 100_000, "files the turns cycle over"),
            (
                "records",
                200,
                1,
                1_000_000,
                "records each client appends at the end",
            ),
            (
                "check_reads",
                0,
                0,
                1,
                "1: every read during the appends must be a prefix of the writer's stream",
            ),
        ],
    },
    WorkloadInfo {
        name: "mds-failover",
        about: "files written, some held open with dirty caps, while the host fails the MDS \
                (ceph mds fail 0): the client reconnects its sessions and caps; then verify",
        hunt: false,
        host_tools: &[],
        params: &[
            ("failovers", 1, 1, 100, "MDS failovers, one after the other"),
            (
                "files",
                40,
                1,
                100_000,
                "files written (and verified) around each failover",
            ),
        ],
    },
    WorkloadInfo {
        name: "session-loss",
        about: "dirty files closed with writeback held off, the client's MDS session evicted \
                (ceph tell mds.* client evict), a second client truncates them, dentries and \
                inodes dropped, then sync: the trigger of the 2025 writeback deadlock; verify",
        hunt: true,
        host_tools: &[],
        params: &[
            ("rounds", 2, 1, 100, "evictions, one per round"),
            ("files", 2, 1, 64, "dirty files per round"),
            ("file_mib", 8, 1, 256, "MiB written to each dirty file"),
            (
                "truncate_kib",
                0,
                0,
                1_048_576,
                "size the second client truncates each file to",
            ),
            (
                "blocklist",
                0,
                0,
                1,
                "1: the eviction also blocklists the client (mds_session_blocklist_on_evict)",
            ),
            (
                "variant",
                0,
                0,
                4,
                "how the session is lost and the files shrunk (docs/workloads.md); 0: each in turn",
            ),
        ],
    },
    WorkloadInfo {
        name: "fio",
        about: "Debian's fio: `jobs` processes do seeded random reads and writes (4 KiB by \
                default) on a file each, then read back and check every block they wrote \
                (verify=crc32c); fio's own errors and verification failures are findings",
        hunt: false,
        host_tools: &[("/usr/bin/fio", "fio")],
        params: &[
            ("size_mib", 8, 1, 1024, "MiB of each job's file (and of its random I/O)"),
            (
                "runtime_s",
                20,
                1,
                600,
                "upper bound of the random I/O phase, seconds (it ends sooner once size_mib is done)",
            ),
            ("jobs", 2, 1, 16, "fio jobs (processes), one file each"),
            ("block_kib", 4, 1, 1024, "block size, KiB"),
            ("read_pct", 50, 0, 100, "share of reads in the random I/O (rwmixread)"),
            ("direct", 0, 0, 1, "1: O_DIRECT (bypasses the page cache)"),
        ],
    },
    WorkloadInfo {
        name: "stress-ng",
        about: "Debian's stress-ng: file-system stressors (by default rename, inode-flags, flock, \
                xattr, mmap on a file; dentry, dir, link, iomix on request) at once, seeded, with \
                --verify; a non-zero exit or a `fail:` line is a finding",
        hunt: false,
        host_tools: &[("/usr/bin/stress-ng", "stress-ng")],
        params: &[
            ("seconds", 5, 1, 600, "how long the stressors run (--timeout)"),
            ("instances", 1, 1, 16, "instances of each stressor"),
            (
                "stressors",
                244,
                1,
                511,
                "bit mask over dentry, dir, rename, link, inode-flags, flock, xattr, mmap, iomix \
                 (bit 0 = dentry); the default leaves out the four that fail on the good series \
                 (docs/workloads.md)",
            ),
        ],
    },
    WorkloadInfo {
        name: "dbench",
        about: "Debian's dbench replaying its client loadfile (/usr/share/dbench/client.txt: a \
                Windows file server's metadata-heavy mix) with `clients` processes; errors are \
                findings, the throughput a counter",
        hunt: false,
        host_tools: &[
            ("/usr/bin/dbench", "dbench"),
            ("/usr/share/dbench/client.txt", "dbench"),
        ],
        params: &[
            ("clients", 2, 1, 64, "client processes"),
            ("seconds", 10, 1, 600, "run time (-t)"),
        ],
    },
    WorkloadInfo {
        name: "fsmark",
        about: "Debian's fs_mark: `threads` threads each create `files` files of `size_kib` \
                KiB per loop, with fsync before close by default; files/s is a counter",
        hunt: false,
        host_tools: &[("/usr/bin/fs_mark", "fsmark")],
        params: &[
            ("files", 200, 1, 1_000_000, "files per thread and loop (-n)"),
            ("size_kib", 4, 0, 65_536, "size of each file, KiB (-s)"),
            ("threads", 2, 1, 64, "threads (-t)"),
            ("loops", 2, 1, 1000, "loops (-L); each loop's files stay"),
            (
                "sync",
                1,
                0,
                6,
                "fs_mark's sync method (-S): 0 none, 1 fsync before close, ... (fs_mark -h)",
            ),
        ],
    },
    WorkloadInfo {
        name: "fstests",
        about: "fstests (xfstests) with FSTYP=ceph from a checkout or tarball the job names \
                (built on the host, exported read-only): each test a result (pass, fail with \
                its diff, not run with fstests' reason); a failing test is the finding \
                `fstests TEST`",
        hunt: false,
        host_tools: &[
            ("/usr/bin/bash", "bash"),
            ("/usr/bin/perl", "perl"),
            ("/usr/sbin/xfs_io", "xfsprogs"),
            ("/usr/bin/setfattr", "attr"),
            ("/usr/bin/setfacl", "acl"),
            ("/usr/bin/bc", "bc"),
            ("/usr/bin/fuser", "psmisc"),
            ("/usr/bin/gawk", "gawk"),
        ],
        params: &[(
            "test_timeout_s",
            600,
            10,
            86_400,
            "deadline of one test, seconds (multiplied by the job's tcg_factor under TCG); \
             past it the test is killed and fails",
        )],
    },
];

/// Parameters that are not numbers: (workload, name, YAML type, meaning). Only fstests has them.
pub const TEXT_PARAMS: &[(&str, &str, &str, &str)] = &[
    (
        "fstests",
        "path",
        "path",
        "the fstests checkout (a directory) or tarball (`.tar.gz`), relative to the job file; \
         required",
    ),
    (
        "fstests",
        "tests",
        "list",
        "tests to run (`generic/013`); with `groups`, both",
    ),
    (
        "fstests",
        "groups",
        "list",
        "groups to run (`quick`, `auto`)",
    ),
    (
        "fstests",
        "exclude",
        "list",
        "tests never run; default: what Ceph's QA excludes for the kernel client \
         (fstests::DEFAULT_EXCLUDE)",
    ),
];

impl WorkloadInfo {
    /// The catalog entry of a workload.
    pub fn get(name: &str) -> Option<&'static WorkloadInfo> {
        WORKLOADS.iter().find(|w| w.name == name)
    }

    /// Does it run programs from the host's userland (`guests.userland: host`)?
    pub fn needs_host_userland(&self) -> bool {
        !self.host_tools.is_empty()
    }

    /// A parameter's default.
    pub fn default_of(&self, param: &str) -> Option<u64> {
        self.params.iter().find(|p| p.0 == param).map(|p| p.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_parameters_are_unique_and_defaults_in_range() {
        for (i, w) in WORKLOADS.iter().enumerate() {
            assert!(
                WORKLOADS[..i].iter().all(|o| o.name != w.name),
                "{}",
                w.name
            );
            for (j, (name, default, min, max, _)) in w.params.iter().enumerate() {
                assert!(
                    w.params[..j].iter().all(|o| o.0 != *name),
                    "{}.{name}",
                    w.name
                );
                assert!((min..=max).contains(&default), "{}.{name}", w.name);
            }
        }
        assert_eq!(
            WorkloadInfo::get("iput-stress")
                .unwrap()
                .default_of("processes"),
            Some(12)
        );
        assert!(WorkloadInfo::get("nope").is_none());
    }
}
