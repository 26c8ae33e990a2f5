//! The cgroup stats source: a running container's stats read from the kernel,
//! into the same [`Stats`] the engine's stats call gives (the engine reads the
//! same files).
//!
//! The container's cgroup is found from `<procfs>/<pid>/cgroup` of its init
//! process (the pid is in the inspect answer), so any engine, cgroup driver
//! and version works; the directories are under `<sysfs>/fs/cgroup`. Its
//! network counters come from `<procfs>/<pid>/net/dev` (its network
//! namespace). The `parse_*` functions are pure (file text in, numbers out);
//! [`read`] does the I/O. A container that cannot be read gives a [`Miss`]
//! with a reason, never a panic.

use crate::snapshot::{now_unix, BlockDevice, Container, Memory, Network, Stats, Throttling};
use std::collections::{BTreeMap, HashMap};
use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Where the host's sysfs and procfs are (`--path.sysfs`, `--path.procfs`).
#[derive(Debug, Clone)]
pub struct Paths {
    pub sysfs: PathBuf,
    pub procfs: PathBuf,
}

/// Why a container's stats could not be read from its cgroup.
#[derive(Debug, thiserror::Error)]
pub enum Miss {
    #[error("the inspect answer gives no pid")]
    NoPid,
    /// Exited (or restarted) since it was inspected: its pid or cgroup is gone,
    /// or the pid now belongs to another cgroup.
    #[error("{0} is gone (the container exited)")]
    Gone(PathBuf),
    /// `<sysfs>/fs/cgroup` or `<procfs>` is not there (a missing mount).
    #[error("{0} does not exist (mount the host's /sys/fs/cgroup and /proc)")]
    NoMount(PathBuf),
    /// The path is relative to another cgroup namespace (`/..`): run with the
    /// host's cgroup namespace.
    #[error("the cgroup path {0:?} is not the host's view (run in the host's cgroup namespace)")]
    NotHostView(String),
    #[error("cannot read {path}: {source}")]
    Unreadable { path: PathBuf, source: io::Error },
    #[error("cannot parse {0}")]
    BadData(PathBuf),
}

impl Miss {
    /// The `reason` label of `docker_exporter_stats_cgroup_misses_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            Miss::NoPid => "no_pid",
            Miss::Gone(_) => "gone",
            Miss::NoMount(_) => "no_mount",
            Miss::NotHostView(_) => "not_host_view",
            Miss::Unreadable { .. } => "unreadable",
            Miss::BadData(_) => "bad_data",
        }
    }
}

/// Every reason a [`Miss`] can have, for the counter's series.
pub const REASONS: [&str; 6] = [
    "no_pid",
    "gone",
    "no_mount",
    "not_host_view",
    "unreadable",
    "bad_data",
];

/// A process's cgroups, from `/proc/<pid>/cgroup`.
#[derive(Debug, Default, PartialEq)]
pub struct ProcCgroup {
    /// cgroup v1: (controller list as the hierarchy is mounted, e.g.
    /// `cpu,cpuacct`, path).
    pub v1: Vec<(String, String)>,
    /// cgroup v2: the unified hierarchy's path (`0::/…`).
    pub unified: Option<String>,
}

/// Parses `/proc/<pid>/cgroup` (`hierarchy-id:controllers:path` per line).
pub fn parse_proc_cgroup(text: &str) -> ProcCgroup {
    let mut p = ProcCgroup::default();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if controllers.is_empty() {
            p.unified = Some(path.to_string());
        } else if !controllers.starts_with("name=") {
            p.v1.push((controllers.to_string(), path.to_string()));
        }
    }
    p
}

/// `key value` lines (`cpu.stat`, `memory.stat`, `memory.events`,
/// `cpuacct.stat`); lines that are not a key and a number are skipped.
pub fn parse_keyed(text: &str) -> BTreeMap<&str, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k, v.trim().parse().ok()?))
        })
        .collect()
}

/// One number, or `max` (no limit: `None`).
pub fn parse_limit(text: &str) -> Option<Option<u64>> {
    match text.trim() {
        "max" => Some(None),
        t => t.parse().ok().map(Some),
    }
}

/// cgroup v1 blkio lists (`8:0 Read 4096`, a `Total` line): per device, the
/// sums of its `Read` and `Write` lines.
pub fn parse_blkio_v1(text: &str) -> BTreeMap<(u64, u64), (u64, u64)> {
    let mut out: BTreeMap<(u64, u64), (u64, u64)> = BTreeMap::new();
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let (Some(dev), Some(op), Some(v)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let (Some(dev), Ok(v)) = (device(dev), v.parse::<u64>()) else {
            continue;
        };
        let e = out.entry(dev).or_default();
        match op {
            "Read" => e.0 = e.0.saturating_add(v),
            "Write" => e.1 = e.1.saturating_add(v),
            _ => {}
        }
    }
    out
}

/// One device's line of cgroup v2 `io.stat`.
#[derive(Debug, Default, PartialEq)]
pub struct IoStat {
    pub rbytes: u64,
    pub wbytes: u64,
    pub rios: u64,
    pub wios: u64,
}

/// cgroup v2 `io.stat`: `8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0`.
pub fn parse_io_stat(text: &str) -> BTreeMap<(u64, u64), IoStat> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let Some(dev) = parts.next().and_then(device) else {
            continue;
        };
        let mut s = IoStat::default();
        for kv in parts {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let v = v.parse().unwrap_or(0);
            match k {
                "rbytes" => s.rbytes = v,
                "wbytes" => s.wbytes = v,
                "rios" => s.rios = v,
                "wios" => s.wios = v,
                _ => {}
            }
        }
        out.insert(dev, s);
    }
    out
}

fn device(s: &str) -> Option<(u64, u64)> {
    let (major, minor) = s.split_once(':')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Interfaces no source reports: loopback, and the fallback tunnel devices the
/// kernel puts in every network namespace when their module is loaded (the
/// engine lists only the interfaces it made).
const NOT_REPORTED: [&str; 10] = [
    "lo", "tunl0", "gre0", "gretap0", "erspan0", "ip_vti0", "ip6_vti0", "sit0", "ip6tnl0",
    "ip6gre0",
];

/// `/proc/<pid>/net/dev`: per interface, the counters the engine reports.
pub fn parse_net_dev(text: &str) -> Vec<(String, Network)> {
    let mut out: Vec<(String, Network)> = text
        .lines()
        .skip(2)
        .filter_map(|line| {
            let (name, rest) = line.split_once(':')?;
            let name = name.trim();
            if NOT_REPORTED.contains(&name) {
                return None;
            }
            let n: Vec<u64> = rest
                .split_whitespace()
                .map(|v| v.parse().ok())
                .collect::<Option<_>>()?;
            if n.len() < 16 {
                return None;
            }
            // rx: bytes packets errs drop fifo frame compressed multicast; tx: the same eight.
            Some((
                name.to_string(),
                Network {
                    rx_bytes: Some(n[0]),
                    rx_packets: Some(n[1]),
                    rx_errors: Some(n[2]),
                    rx_dropped: Some(n[3]),
                    tx_bytes: Some(n[8]),
                    tx_packets: Some(n[9]),
                    tx_errors: Some(n[10]),
                    tx_dropped: Some(n[11]),
                },
            ))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Memory from the cgroup's numbers, as `Memory::from_wire` makes it from the
/// engine's (which copies the same files): the working set is usage less
/// inactive file pages.
fn memory(usage: u64, inactive_file: Option<u64>) -> Memory {
    Memory {
        usage,
        working_set: Some(usage.saturating_sub(inactive_file.unwrap_or(0))),
        ..Default::default()
    }
}

/// USER_HZ: `cpuacct.stat` counts in ticks of 10 ms (the engine converts the
/// same way).
const NS_PER_TICK: u64 = 10_000_000;

/// Where a container's cgroup files are.
#[derive(Debug, PartialEq)]
pub enum Layout {
    /// Per controller (`cpu`, `cpuacct`, `memory`, `pids`, `blkio`): its directory.
    V1(BTreeMap<&'static str, PathBuf>),
    V2(PathBuf),
}

const V1_CONTROLLERS: [&str; 5] = ["cpu", "cpuacct", "memory", "pids", "blkio"];

impl Layout {
    /// The container's directories from its init process's cgroups, checked to
    /// be the container's: the path names its id (else the pid was reused).
    pub fn locate(cgroup_root: &Path, p: &ProcCgroup, id: &str) -> Result<Layout, Miss> {
        let check = |path: &str| -> Result<(), Miss> {
            if !path.contains(id) {
                Err(Miss::Gone(PathBuf::from(path)))
            } else if path.starts_with("/..") {
                Err(Miss::NotHostView(path.to_string()))
            } else {
                Ok(())
            }
        };
        let dir =
            |mount: &str, path: &str| cgroup_root.join(mount).join(path.trim_start_matches('/'));
        if p.v1.is_empty() {
            let path = p.unified.as_deref().ok_or(Miss::Gone(PathBuf::new()))?;
            check(path)?;
            return Ok(Layout::V2(dir("", path)));
        }
        let mut dirs = BTreeMap::new();
        for want in V1_CONTROLLERS {
            if let Some((mount, path)) = p.v1.iter().find(|(c, _)| c.split(',').any(|c| c == want))
            {
                check(path)?;
                dirs.insert(want, dir(mount, path));
            }
        }
        if !dirs.contains_key("cpuacct") || !dirs.contains_key("memory") {
            return Err(Miss::Gone(PathBuf::from("cpuacct/memory")));
        }
        Ok(Layout::V1(dirs))
    }
}

/// A directory whose files are opened relative to it: opened (`O_PATH`) at the
/// first file that is not held open already, so the kernel looks up one path
/// component per file instead of the whole path (which was most of the cost).
struct Dir<'a> {
    /// Which directory of the container this is (a key of [`Held`]'s files).
    key: &'static str,
    path: &'a Path,
    fd: std::cell::OnceCell<OwnedFd>,
}

impl<'a> Dir<'a> {
    fn new(key: &'static str, path: &'a Path) -> Dir<'a> {
        Dir {
            key,
            path,
            fd: std::cell::OnceCell::new(),
        }
    }

    fn fd(&self) -> io::Result<&OwnedFd> {
        if let Some(fd) = self.fd.get() {
            return Ok(fd);
        }
        let c = CString::new(self.path.as_os_str().as_bytes())?;
        // SAFETY: `c` is a valid C string; the result is checked before use.
        let fd = unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(self.fd.get_or_init(|| fd))
    }

    fn open(&self, name: &str) -> io::Result<File> {
        let c = CString::new(name)?;
        let dir = self.fd()?;
        // SAFETY: a directory descriptor we own and a valid C string; checked.
        let fd = unsafe {
            libc::openat(
                dir.as_raw_fd(),
                c.as_ptr(),
                libc::O_RDONLY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a new descriptor that nothing else owns.
        Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
    }
}

/// The whole file from its start. A cgroup or proc file is generated anew by
/// each read from offset 0, so a held descriptor reads current values. One
/// read gets a whole file (their `seq_file` fills the buffer as far as the
/// file goes): a short read is the end, which saves a read returning 0.
fn read_all(file: &File) -> io::Result<String> {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = file.read_at(&mut chunk, bytes.len() as u64)?;
        bytes.extend_from_slice(&chunk[..n]);
        if n < chunk.len() {
            break;
        }
    }
    String::from_utf8(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// One container's cgroup directories and the files held open between reads
/// (see [`Open`]).
#[derive(Debug, Default)]
pub struct Held {
    /// The process the layout and files belong to: a restart makes a new one
    /// (and new cgroups).
    pid: u32,
    layout: Option<Layout>,
    files: HashMap<(&'static str, &'static str), File>,
    /// Files found missing (a controller or kernel feature not there, e.g.
    /// `memory.peak` before Linux 5.19): not looked for again while the
    /// process is the same.
    absent: std::collections::HashSet<(&'static str, &'static str)>,
    /// Whether files opened now are kept (within [`Open`]'s budget).
    keep: bool,
}

impl Held {
    fn read(&mut self, dir: &Dir, name: &'static str) -> io::Result<String> {
        if let Some(file) = self.files.get(&(dir.key, name)) {
            return read_all(file);
        }
        if self.absent.contains(&(dir.key, name)) {
            return Err(io::ErrorKind::NotFound.into());
        }
        let file = match dir.open(name) {
            Ok(file) => file,
            Err(e) => {
                // Only a file of a directory that is there is absent (not a
                // container that went); only optional files get this far twice.
                if self.keep && e.kind() == io::ErrorKind::NotFound && dir.fd.get().is_some() {
                    self.absent.insert((dir.key, name));
                }
                return Err(e);
            }
        };
        let text = read_all(&file)?;
        if self.keep {
            self.files.insert((dir.key, name), file);
        }
        Ok(text)
    }
}

/// The cgroup and `net/dev` files of the live containers, held open from one
/// cycle to the next: a read is then one `pread`, not a path walk, an open, a
/// read and a close (the open was most of the kernel's time: `perf` showed
/// `path_openat`, `kernfs_dop_revalidate`, `seq_open`). At most `budget`
/// descriptors are held (past it, files are opened and closed on each read);
/// a container's files are closed once it is no longer live (so no exited
/// container's cgroup or network namespace is kept), and after any failed read
/// its files are dropped and read afresh once.
#[derive(Debug, Default)]
pub struct Open {
    held: HashMap<String, Held>,
    budget: usize,
    fds: usize,
}

/// Descriptors the held files may use: half of what the open-files limit
/// leaves above 1,024 (the rest is for connections and the engine), so none
/// under the common default soft limit of 1,024. It is not raised: a service's
/// system call filter may forbid `setrlimit` (systemd's `@resources`), and a
/// Docker or Kubernetes container already has 1,048,576.
pub fn descriptor_budget() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid rlimit for the kernel to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 0;
    }
    let soft = usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX);
    soft.saturating_sub(1024) / 2
}

/// The most descriptors one container can hold (v1: 13 files and `net/dev`).
const MAX_FILES: usize = 16;

impl Open {
    pub fn new(budget: usize) -> Open {
        Open {
            budget,
            ..Open::default()
        }
    }

    /// Descriptors held now.
    pub fn held(&self) -> usize {
        self.fds
    }

    /// The most descriptors it may hold.
    pub fn budget(&self) -> usize {
        self.budget
    }

    /// Reads one running container's stats (see [`read`]), with the files it
    /// holds.
    pub fn read(&mut self, paths: &Paths, c: &Container) -> Result<Stats, Miss> {
        let mut held = self.held.remove(&c.id).unwrap_or_default();
        self.fds -= held.files.len();
        held.keep = self.fds + MAX_FILES <= self.budget;
        let mut result = read(paths, c, &mut held);
        if result.is_err() && !held.files.is_empty() {
            // A held file of a container that restarted or went: afresh.
            held = Held {
                keep: held.keep,
                ..Held::default()
            };
            result = read(paths, c, &mut held);
        }
        if result.is_ok() {
            self.fds += held.files.len();
            self.held.insert(c.id.clone(), held);
        }
        result
    }

    /// Closes the files of every container not in `live`.
    pub fn retain(&mut self, live: &std::collections::HashSet<&str>) {
        let fds = &mut self.fds;
        self.held.retain(|id, h| {
            let keep = live.contains(id.as_str());
            if !keep {
                *fds -= h.files.len();
            }
            keep
        });
    }
}

/// Reads files, telling a vanished container from a missing mount.
struct Reader<'a> {
    root: &'a Path,
}

impl Reader<'_> {
    fn text(&self, held: &mut Held, dir: &Dir, name: &'static str) -> Result<String, Miss> {
        held.read(dir, name)
            .map_err(|e| self.miss(&dir.path.join(name), e))
    }

    /// A file that may not exist (a controller or kernel feature not there).
    fn optional(
        &self,
        held: &mut Held,
        dir: &Dir,
        name: &'static str,
    ) -> Result<Option<String>, Miss> {
        match held.read(dir, name) {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.miss(&dir.path.join(name), e)),
        }
    }

    fn number(&self, held: &mut Held, dir: &Dir, name: &'static str) -> Result<u64, Miss> {
        let t = self.text(held, dir, name)?;
        t.trim()
            .parse()
            .map_err(|_| Miss::BadData(dir.path.join(name)))
    }

    fn optional_number(
        &self,
        held: &mut Held,
        dir: &Dir,
        name: &'static str,
    ) -> Result<Option<u64>, Miss> {
        match self.optional(held, dir, name)? {
            Some(t) => t
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| Miss::BadData(dir.path.join(name))),
            None => Ok(None),
        }
    }

    fn limit(&self, held: &mut Held, dir: &Dir, name: &'static str) -> Result<u64, Miss> {
        let t = self.text(held, dir, name)?;
        Ok(parse_limit(&t)
            .ok_or_else(|| Miss::BadData(dir.path.join(name)))?
            .unwrap_or(0))
    }

    fn miss(&self, path: &Path, e: io::Error) -> Miss {
        if e.kind() != io::ErrorKind::NotFound {
            Miss::Unreadable {
                path: path.into(),
                source: e,
            }
        } else if !self.root.exists() {
            Miss::NoMount(self.root.into())
        } else {
            Miss::Gone(path.into())
        }
    }
}

/// Reads one running container's stats from its cgroup and network
/// namespace, locating its cgroup from `/proc/<pid>/cgroup` unless `held`
/// knows it for this pid already.
pub fn read(paths: &Paths, c: &Container, held: &mut Held) -> Result<Stats, Miss> {
    let pid = c.pid.ok_or(Miss::NoPid)?;
    if held.pid != pid {
        *held = Held {
            pid,
            keep: held.keep,
            ..Held::default()
        };
    }
    let read_at = now_unix();
    let proc = Reader {
        root: &paths.procfs,
    };
    let proc_path = paths.procfs.join(pid.to_string());
    let proc_dir = Dir::new("proc", &proc_path);
    let cgroup_root = paths.sysfs.join("fs/cgroup");
    let layout = match held.layout.take() {
        Some(layout) => layout,
        None => locate(c, &cgroup_root, &proc, &proc_dir)?,
    };
    let cg = Reader { root: &cgroup_root };
    let mut s = match &layout {
        Layout::V1(paths) => {
            let dirs: BTreeMap<&'static str, Dir> = paths
                .iter()
                .map(|(controller, path)| (*controller, Dir::new(controller, path)))
                .collect();
            read_v1(&cg, held, &dirs)?
        }
        Layout::V2(path) => read_v2(&cg, held, &Dir::new("v2", path))?,
    };
    s.read_at = read_at;
    if !c.host_network {
        s.networks = parse_net_dev(&proc.text(held, &proc_dir, "net/dev")?);
    }
    held.layout = Some(layout);
    Ok(s)
}

/// The container's cgroup directories, from its init process's cgroups.
fn locate(
    c: &Container,
    cgroup_root: &Path,
    proc: &Reader,
    proc_dir: &Dir,
) -> Result<Layout, Miss> {
    let text = proc_dir
        .open("cgroup")
        .and_then(|f| read_all(&f))
        .map_err(|e| proc.miss(&proc_dir.path.join("cgroup"), e))?;
    let mut own = parse_proc_cgroup(&text);
    match Layout::locate(cgroup_root, &own, &c.id) {
        // In a cgroup namespace of its own the exporter sees paths relative to
        // it: the engine's driver gives the path from the host's view instead
        // (`/docker/<id>`, `/system.slice/docker-<id>.scope`), if it is there.
        Err(Miss::NotHostView(path)) => {
            for (_, p) in own.v1.iter_mut() {
                p.clone_from(&c.cgroup_path);
            }
            if let Some(u) = own.unified.as_mut() {
                u.clone_from(&c.cgroup_path);
            }
            let layout = Layout::locate(cgroup_root, &own, &c.id)?;
            let dir = match &layout {
                Layout::V1(dirs) => &dirs["cpuacct"],
                Layout::V2(dir) => dir,
            };
            if !dir.is_dir() {
                return Err(Miss::NotHostView(path));
            }
            Ok(layout)
        }
        other => other,
    }
}

fn count_lines(text: &str) -> u64 {
    text.lines().filter(|l| !l.trim().is_empty()).count() as u64
}

fn read_v1(r: &Reader, held: &mut Held, dirs: &BTreeMap<&'static str, Dir>) -> Result<Stats, Miss> {
    let acct = &dirs["cpuacct"];
    let mem = &dirs["memory"];
    let mut s = Stats {
        cpu_total_ns: Some(r.number(held, acct, "cpuacct.usage")?),
        ..Default::default()
    };
    if let Some(t) = r.optional(held, acct, "cpuacct.stat")? {
        let k = parse_keyed(&t);
        s.cpu_user_ns = k.get("user").map(|t| t.saturating_mul(NS_PER_TICK));
        s.cpu_system_ns = k.get("system").map(|t| t.saturating_mul(NS_PER_TICK));
    }
    if let Some(cpu) = dirs.get("cpu") {
        if let Some(t) = r.optional(held, cpu, "cpu.stat")? {
            let k = parse_keyed(&t);
            s.throttling = Some(Throttling {
                periods: k.get("nr_periods").copied().unwrap_or(0),
                throttled_periods: k.get("nr_throttled").copied().unwrap_or(0),
                throttled_ns: k.get("throttled_time").copied().unwrap_or(0),
            });
        }
    }
    let stat = r.text(held, mem, "memory.stat")?;
    let k = parse_keyed(&stat);
    let mut m = memory(
        r.number(held, mem, "memory.usage_in_bytes")?,
        k.get("total_inactive_file").copied(),
    );
    m.rss = k.get("total_rss").copied();
    m.cache = k.get("total_cache").copied();
    m.mapped_file = k.get("total_mapped_file").copied();
    m.swap = k.get("total_swap").copied();
    m.max_usage = Some(r.number(held, mem, "memory.max_usage_in_bytes")?);
    m.failcnt = Some(r.number(held, mem, "memory.failcnt")?);
    s.memory = Some(m);
    if let Some(pids) = dirs.get("pids") {
        s.pids_current = Some(r.number(held, pids, "pids.current")?);
        s.pids_limit = Some(r.limit(held, pids, "pids.max")?);
        s.processes = Some(count_lines(&r.text(held, pids, "cgroup.procs")?));
    }
    if let Some(blkio) = dirs.get("blkio") {
        // As the engine: the CFQ scheduler's lists where they exist, else the
        // throttle layer's.
        let (bytes, ios) = match r.optional(held, blkio, "blkio.io_service_bytes_recursive")? {
            Some(bytes) => (bytes, r.text(held, blkio, "blkio.io_serviced_recursive")?),
            None => (
                r.text(held, blkio, "blkio.throttle.io_service_bytes")?,
                r.text(held, blkio, "blkio.throttle.io_serviced")?,
            ),
        };
        let ios = parse_blkio_v1(&ios);
        s.blkio = parse_blkio_v1(&bytes)
            .into_iter()
            .map(|(dev, (read, write))| {
                let (reads, writes) = ios.get(&dev).copied().unwrap_or_default();
                BlockDevice {
                    device: format!("{}:{}", dev.0, dev.1),
                    read_bytes: Some(read),
                    write_bytes: Some(write),
                    reads: Some(reads),
                    writes: Some(writes),
                }
            })
            .collect();
    }
    Ok(s)
}

fn read_v2(r: &Reader, held: &mut Held, dir: &Dir) -> Result<Stats, Miss> {
    let cpu = r.text(held, dir, "cpu.stat")?;
    let k = parse_keyed(&cpu);
    let us = |key: &str| k.get(key).map(|v| v.saturating_mul(1000));
    let mut s = Stats {
        cpu_total_ns: us("usage_usec"),
        cpu_user_ns: us("user_usec"),
        cpu_system_ns: us("system_usec"),
        throttling: k.get("nr_periods").map(|p| Throttling {
            periods: *p,
            throttled_periods: k.get("nr_throttled").copied().unwrap_or(0),
            throttled_ns: us("throttled_usec").unwrap_or(0),
        }),
        ..Default::default()
    };
    let stat = r.text(held, dir, "memory.stat")?;
    let k = parse_keyed(&stat);
    let mut m = memory(
        r.number(held, dir, "memory.current")?,
        k.get("inactive_file").copied(),
    );
    m.rss = k.get("anon").copied();
    m.cache = k.get("file").copied();
    m.mapped_file = k.get("file_mapped").copied();
    // `memory.peak` exists from Linux 5.19; the engine reports no maximum on v2.
    m.max_usage = r.optional_number(held, dir, "memory.peak")?;
    // As the engine on v2: the OOM count stands for the v1 failure count.
    let events = r.optional(held, dir, "memory.events")?.unwrap_or_default();
    m.failcnt = Some(parse_keyed(&events).get("oom").copied().unwrap_or(0));
    s.memory = Some(m);
    s.pids_current = r.optional_number(held, dir, "pids.current")?;
    if s.pids_current.is_some() {
        s.pids_limit = Some(r.limit(held, dir, "pids.max")?);
    }
    s.processes = Some(count_lines(&r.text(held, dir, "cgroup.procs")?));
    if let Some(io) = r.optional(held, dir, "io.stat")? {
        s.blkio = parse_io_stat(&io)
            .into_iter()
            .map(|(dev, io)| BlockDevice {
                device: format!("{}:{}", dev.0, dev.1),
                read_bytes: Some(io.rbytes),
                write_bytes: Some(io.wbytes),
                reads: Some(io.rios),
                writes: Some(io.wios),
            })
            .collect();
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_cgroup_v1_hybrid_and_v2() {
        let v1 = "12:pids:/docker/abc\n4:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc\n0::/docker/abc\n";
        let p = parse_proc_cgroup(v1);
        assert_eq!(
            p.v1,
            [
                ("pids".to_string(), "/docker/abc".to_string()),
                ("cpu,cpuacct".to_string(), "/docker/abc".to_string())
            ]
        );
        assert_eq!(p.unified.as_deref(), Some("/docker/abc"));
        let p = parse_proc_cgroup("0::/system.slice/docker-abc.scope\n");
        assert!(p.v1.is_empty());
        assert_eq!(p.unified.as_deref(), Some("/system.slice/docker-abc.scope"));
        assert_eq!(parse_proc_cgroup("garbage\n\n1:"), ProcCgroup::default());
    }

    #[test]
    fn layouts_are_located_and_checked() {
        let root = Path::new("/sys/fs/cgroup");
        let p = parse_proc_cgroup(
            "4:cpu,cpuacct:/docker/abc\n3:memory:/docker/abc\n2:pids:/docker/abc\n",
        );
        let Layout::V1(dirs) = Layout::locate(root, &p, "abc").unwrap() else {
            panic!("v1 expected");
        };
        assert_eq!(
            dirs["cpu"],
            Path::new("/sys/fs/cgroup/cpu,cpuacct/docker/abc")
        );
        assert_eq!(dirs["cpuacct"], dirs["cpu"]);
        assert_eq!(
            dirs["memory"],
            Path::new("/sys/fs/cgroup/memory/docker/abc")
        );
        assert!(!dirs.contains_key("blkio"));
        let p = parse_proc_cgroup("0::/system.slice/docker-abc.scope\n");
        assert_eq!(
            Layout::locate(root, &p, "abc").unwrap(),
            Layout::V2(PathBuf::from(
                "/sys/fs/cgroup/system.slice/docker-abc.scope"
            ))
        );
        // A pid reused by another process, a private cgroup namespace, no controllers.
        let miss = |text: &str| {
            Layout::locate(root, &parse_proc_cgroup(text), "abc")
                .unwrap_err()
                .reason()
        };
        assert_eq!(miss("0::/user.slice/other.scope\n"), "gone");
        assert_eq!(miss("0::/../docker/abc\n"), "not_host_view");
        assert_eq!(miss("2:pids:/docker/abc\n"), "gone");
        assert_eq!(miss(""), "gone");
    }

    #[test]
    fn keyed_files_and_limits() {
        let k = parse_keyed("usage_usec 1500\nuser_usec 1000\nbroken\nx y\n");
        assert_eq!(k.get("usage_usec"), Some(&1500));
        assert_eq!(k.get("user_usec"), Some(&1000));
        assert_eq!(k.len(), 2);
        assert_eq!(parse_limit("max\n"), Some(None));
        assert_eq!(parse_limit("512\n"), Some(Some(512)));
        assert_eq!(parse_limit("-1"), None);
    }

    #[test]
    fn blkio_v1_and_io_stat_v2() {
        let v1 = "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 1\n8:0 Total 12288\n253:1 Read 1\n253:1 Read 2\nTotal 12291\n";
        let b = parse_blkio_v1(v1);
        assert_eq!(b[&(8, 0)], (4096, 8192));
        assert_eq!(b[&(253, 1)], (3, 0));
        assert_eq!(b.len(), 2);
        assert!(parse_blkio_v1("Total 0\n").is_empty());
        let v2 = "8:0 rbytes=1052672 wbytes=0 rios=12 wios=0 dbytes=0 dios=0\n253:1 rbytes=65536 wbytes=12288 rios=4 wios=3 dbytes=0 dios=0\nbad line\n";
        let io = parse_io_stat(v2);
        assert_eq!(
            io[&(8, 0)],
            IoStat {
                rbytes: 1_052_672,
                wbytes: 0,
                rios: 12,
                wios: 0
            }
        );
        assert_eq!(io[&(253, 1)].wios, 3);
        assert_eq!(io.len(), 2);
    }

    #[test]
    fn net_dev_skips_loopback_and_tunnels() {
        let text = "Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0
 tunl0:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0
  eth1:       5       6    7    8    0     0          0         0        9      10   11   12    0     0       0          0
  eth0:     952      10    0    0    0     0          0         0       42       1    0    0    0     0       0          0
";
        let n = parse_net_dev(text);
        assert_eq!(
            n.iter().map(|(i, _)| i.as_str()).collect::<Vec<_>>(),
            ["eth0", "eth1"]
        );
        assert_eq!(
            n[1].1,
            Network {
                rx_bytes: Some(5),
                rx_packets: Some(6),
                rx_errors: Some(7),
                rx_dropped: Some(8),
                tx_bytes: Some(9),
                tx_packets: Some(10),
                tx_errors: Some(11),
                tx_dropped: Some(12),
            }
        );
        assert_eq!(n[0].1.rx_bytes, Some(952));
        assert!(parse_net_dev("header\nheader\n  eth0: 1 2 3\n").is_empty());
    }

    /// A container's cgroup v1 and v2 trees in a temporary directory.
    struct Tree(PathBuf);

    impl Tree {
        fn new(name: &str) -> Tree {
            let dir =
                std::env::temp_dir().join(format!("dexp-cgroup-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            Tree(dir)
        }
        fn file(&self, path: &str, text: &str) {
            let p = self.0.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        fn paths(&self) -> Paths {
            Paths {
                sysfs: self.0.join("sys"),
                procfs: self.0.join("proc"),
            }
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn container(id: &str, pid: Option<u32>) -> Container {
        let mut saturated = crate::snapshot::Saturated::default();
        let mut c = Container::from_inspect(
            &crate::docker::types::Inspect {
                id: id.into(),
                state: Some(crate::docker::types::ContainerState {
                    status: Some("running".into()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            &[],
            crate::snapshot::EngineKind::Docker,
            "cgroupfs",
            &mut saturated,
        )
        .unwrap();
        c.pid = pid;
        c
    }

    const NET: &str = "h\nh\n  eth0: 10 1 0 0 0 0 0 0 20 2 0 0 0 0 0 0\n";

    #[test]
    fn reads_a_v1_container() {
        let t = Tree::new("v1");
        t.file("proc/42/cgroup", "5:blkio:/docker/abc\n4:pids:/docker/abc\n3:memory:/docker/abc\n2:cpuacct:/docker/abc\n1:cpu:/docker/abc\n0::/\n");
        t.file("proc/42/net/dev", NET);
        let cg = "sys/fs/cgroup";
        t.file(
            &format!("{cg}/cpuacct/docker/abc/cpuacct.usage"),
            "1077933239\n",
        );
        t.file(
            &format!("{cg}/cpuacct/docker/abc/cpuacct.stat"),
            "user 104\nsystem 3\n",
        );
        t.file(
            &format!("{cg}/cpu/docker/abc/cpu.stat"),
            "nr_periods 24\nnr_throttled 20\nthrottled_time 556395262\n",
        );
        t.file(
            &format!("{cg}/memory/docker/abc/memory.usage_in_bytes"),
            "368640\n",
        );
        t.file(
            &format!("{cg}/memory/docker/abc/memory.max_usage_in_bytes"),
            "4337664\n",
        );
        t.file(&format!("{cg}/memory/docker/abc/memory.failcnt"), "0\n");
        t.file(&format!("{cg}/memory/docker/abc/memory.stat"), "cache 1\ntotal_cache 36864\ntotal_rss 57344\ntotal_mapped_file 32768\ntotal_swap 0\ntotal_inactive_file 4096\n");
        t.file(&format!("{cg}/pids/docker/abc/pids.current"), "3\n");
        t.file(&format!("{cg}/pids/docker/abc/pids.max"), "max\n");
        t.file(&format!("{cg}/pids/docker/abc/cgroup.procs"), "42\n43\n");
        t.file(
            &format!("{cg}/blkio/docker/abc/blkio.throttle.io_service_bytes"),
            "8:0 Read 4096\n8:0 Write 0\nTotal 4096\n",
        );
        t.file(
            &format!("{cg}/blkio/docker/abc/blkio.throttle.io_serviced"),
            "8:0 Read 1\n8:0 Write 0\nTotal 1\n",
        );
        let s = read(
            &t.paths(),
            &container("abc", Some(42)),
            &mut Held::default(),
        )
        .unwrap();
        assert_eq!(s.cpu_total_ns, Some(1_077_933_239));
        assert_eq!(s.cpu_user_ns, Some(1_040_000_000));
        assert_eq!(s.cpu_system_ns, Some(30_000_000));
        assert_eq!(
            s.throttling,
            Some(Throttling {
                periods: 24,
                throttled_periods: 20,
                throttled_ns: 556_395_262
            })
        );
        let m = s.memory.as_ref().unwrap();
        assert_eq!((m.usage, m.working_set), (368_640, Some(364_544)));
        assert_eq!(
            (m.rss, m.cache, m.mapped_file),
            (Some(57344), Some(36864), Some(32768))
        );
        assert_eq!(
            (m.swap, m.max_usage, m.failcnt),
            (Some(0), Some(4_337_664), Some(0))
        );
        assert_eq!(
            (s.pids_current, s.pids_limit, s.processes),
            (Some(3), Some(0), Some(2))
        );
        assert_eq!(s.blkio.len(), 1);
        assert_eq!(
            (
                s.blkio[0].device.as_str(),
                s.blkio[0].read_bytes,
                s.blkio[0].reads
            ),
            ("8:0", Some(4096), Some(1))
        );
        assert_eq!(s.networks[0].1.tx_bytes, Some(20));
        assert!(s.read_at > 0.0);

        // Host network: the namespace's counters are the host's, so none.
        let mut host = container("abc", Some(42));
        host.host_network = true;
        assert!(read(&t.paths(), &host, &mut Held::default())
            .unwrap()
            .networks
            .is_empty());
        // Bad data is a miss, not a panic.
        t.file(&format!("{cg}/memory/docker/abc/memory.failcnt"), "lots\n");
        assert_eq!(
            read(
                &t.paths(),
                &container("abc", Some(42)),
                &mut Held::default()
            )
            .unwrap_err()
            .reason(),
            "bad_data"
        );
    }

    #[test]
    fn reads_a_v2_container() {
        let t = Tree::new("v2");
        let dir = "sys/fs/cgroup/system.slice/docker-abc.scope";
        t.file("proc/7/cgroup", "0::/system.slice/docker-abc.scope\n");
        t.file("proc/7/net/dev", NET);
        t.file(&format!("{dir}/cpu.stat"), "usage_usec 213059\nuser_usec 159794\nsystem_usec 53265\nnr_periods 5\nnr_throttled 2\nthrottled_usec 7\n");
        t.file(&format!("{dir}/memory.current"), "221184\n");
        t.file(
            &format!("{dir}/memory.stat"),
            "anon 53248\nfile 8192\nfile_mapped 4096\ninactive_file 4096\n",
        );
        t.file(
            &format!("{dir}/memory.events"),
            "low 0\nhigh 0\nmax 9\noom 2\noom_kill 1\n",
        );
        t.file(&format!("{dir}/pids.current"), "1\n");
        t.file(&format!("{dir}/pids.max"), "100\n");
        t.file(&format!("{dir}/cgroup.procs"), "7\n");
        t.file(
            &format!("{dir}/io.stat"),
            "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n",
        );
        let s = read(&t.paths(), &container("abc", Some(7)), &mut Held::default()).unwrap();
        assert_eq!(
            (s.cpu_total_ns, s.cpu_user_ns, s.cpu_system_ns),
            (Some(213_059_000), Some(159_794_000), Some(53_265_000))
        );
        assert_eq!(s.throttling.as_ref().unwrap().throttled_ns, 7_000);
        let m = s.memory.as_ref().unwrap();
        assert_eq!(
            (m.usage, m.working_set, m.rss, m.cache),
            (221_184, Some(217_088), Some(53248), Some(8192))
        );
        assert_eq!((m.swap, m.max_usage, m.failcnt), (None, None, Some(2)));
        assert_eq!(
            (s.pids_current, s.pids_limit, s.processes),
            (Some(1), Some(100), Some(1))
        );
        assert_eq!(
            (s.blkio[0].write_bytes, s.blkio[0].writes),
            (Some(8192), Some(2))
        );
        t.file(&format!("{dir}/memory.peak"), "999424\n");
        let s = read(&t.paths(), &container("abc", Some(7)), &mut Held::default()).unwrap();
        assert_eq!(s.memory.unwrap().max_usage, Some(999_424));
        // From a private cgroup namespace: the driver's path (systemd here).
        t.file("proc/7/cgroup", "0::/../docker-abc.scope\n");
        let mut c = container("abc", Some(7));
        c.cgroup_path = "/system.slice/docker-abc.scope".into();
        assert_eq!(
            read(&t.paths(), &c, &mut Held::default())
                .unwrap()
                .processes,
            Some(1)
        );
        // A file that cannot be read (a directory in its place).
        std::fs::remove_file(t.0.join(dir).join("cgroup.procs")).unwrap();
        std::fs::create_dir(t.0.join(dir).join("cgroup.procs")).unwrap();
        assert_eq!(
            read(&t.paths(), &c, &mut Held::default())
                .unwrap_err()
                .reason(),
            "unreadable"
        );
    }

    /// A v2 container `abc` with pid `pid`, CPU usage `usec`, in `t`.
    fn v2_container(t: &Tree, scope: &str, pid: u32, usec: u64) {
        let dir = format!("sys/fs/cgroup/system.slice/{scope}");
        t.file(
            &format!("proc/{pid}/cgroup"),
            &format!("0::/system.slice/{scope}\n"),
        );
        t.file(&format!("proc/{pid}/net/dev"), NET);
        t.file(&format!("{dir}/cpu.stat"), &format!("usage_usec {usec}\n"));
        t.file(&format!("{dir}/memory.current"), "221184\n");
        t.file(&format!("{dir}/memory.stat"), "anon 53248\n");
        t.file(&format!("{dir}/cgroup.procs"), &format!("{pid}\n"));
    }

    #[test]
    fn held_files_follow_the_values_the_pid_and_the_live_set() {
        let t = Tree::new("held");
        v2_container(&t, "docker-abc.scope", 7, 1);
        let paths = t.paths();
        let mut open = Open::new(1_000);
        let c = container("abc", Some(7));
        assert_eq!(open.read(&paths, &c).unwrap().cpu_total_ns, Some(1_000));
        // cpu.stat, memory.current, memory.stat, cgroup.procs, net/dev.
        assert_eq!(open.held(), 5);
        // Rewritten in place, as the kernel's files change: a held file reads
        // the current text.
        t.file(
            "sys/fs/cgroup/system.slice/docker-abc.scope/cpu.stat",
            "usage_usec 2\n",
        );
        assert_eq!(open.read(&paths, &c).unwrap().cpu_total_ns, Some(2_000));
        assert_eq!(open.held(), 5, "nothing opened twice");
        // A file found missing is not looked for again for this process.
        t.file(
            "sys/fs/cgroup/system.slice/docker-abc.scope/memory.peak",
            "5\n",
        );
        let s = open.read(&paths, &c).unwrap();
        assert_eq!(s.memory.unwrap().max_usage, None);
        // The cgroup is located once per pid: a changed /proc/7/cgroup is not
        // read again for pid 7 ...
        t.file("proc/7/cgroup", "0::/system.slice/elsewhere-abc.scope\n");
        assert_eq!(open.read(&paths, &c).unwrap().cpu_total_ns, Some(2_000));
        // ... but a restart (a new pid) locates it afresh, with new files.
        v2_container(&t, "docker-abc-2.scope", 9, 3);
        t.file(
            "sys/fs/cgroup/system.slice/docker-abc-2.scope/memory.peak",
            "6\n",
        );
        let restarted = container("abc", Some(9));
        let s = open.read(&paths, &restarted).unwrap();
        assert_eq!(s.cpu_total_ns, Some(3_000));
        assert_eq!(s.memory.unwrap().max_usage, Some(6), "looked for afresh");
        assert_eq!(open.held(), 6);
        // A container no longer live has its files closed.
        open.retain(&std::collections::HashSet::new());
        assert_eq!(open.held(), 0);
        // Without a budget nothing is held, and the values are the same.
        let mut unheld = Open::new(0);
        let s = unheld.read(&paths, &restarted).unwrap();
        assert_eq!(s.cpu_total_ns, Some(3_000));
        assert_eq!(s.memory.unwrap().max_usage, Some(6));
        assert_eq!(unheld.held(), 0);
        // A failed read holds nothing.
        assert_eq!(
            open.read(&paths, &container("gone", Some(11)))
                .unwrap_err()
                .reason(),
            "gone"
        );
        assert_eq!(open.held(), 0);
    }

    #[test]
    fn misses_have_reasons() {
        let t = Tree::new("miss");
        let reason = |c: &Container| {
            read(&t.paths(), c, &mut Held::default())
                .unwrap_err()
                .reason()
        };
        assert_eq!(reason(&container("abc", None)), "no_pid");
        // No procfs at all: a missing mount.
        assert_eq!(reason(&container("abc", Some(7))), "no_mount");
        // The process exited.
        t.file("proc/1/cgroup", "0::/\n");
        assert_eq!(reason(&container("abc", Some(7))), "gone");
        // Its pid now belongs to another cgroup.
        assert_eq!(reason(&container("abc", Some(1))), "gone");
        // The cgroup is named but no cgroup filesystem is mounted.
        t.file("proc/7/cgroup", "0::/docker/abc\n");
        assert_eq!(reason(&container("abc", Some(7))), "no_mount");
        // Mounted, but the container's directory is gone.
        t.file("sys/fs/cgroup/cgroup.controllers", "cpu memory\n");
        assert_eq!(reason(&container("abc", Some(7))), "gone");
        // Seen from a cgroup namespace of its own, with no directory at the
        // driver's path either.
        t.file("proc/7/cgroup", "0::/../docker/abc\n");
        assert_eq!(reason(&container("abc", Some(7))), "not_host_view");
    }
}
