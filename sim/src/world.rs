//! Synthetic mode: a world of `--containers N` containers whose counters grow
//! with time, which churn and emit events (`--churn-per-sec`, `--event-rate`),
//! and the list, inspect and info bodies that describe it.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};

use crate::clock::{human_duration, rfc3339, unix_nanos};
use crate::engine::{Data, Sim};
use crate::events::{container_event, Attrs, Event};
use crate::Args;

/// Docker's zero time, for times that never happened.
pub(crate) const ZERO_TIME: &str = "0001-01-01T00:00:00Z";
const IMAGES: [&str; 6] = [
    "nginx:1.25",
    "postgres:16",
    "redis:7-alpine",
    "python:3.12-slim",
    "busybox:latest",
    "ghcr.io/acme/api:2.3.1",
];
const SERVICES: [&str; 6] = ["web", "api", "db", "cache", "worker", "queue"];
/// Synthetic host memory.
pub(crate) const MEM_TOTAL: u64 = 32 << 30;

pub(crate) fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A deterministic 64-hex id derived from a number.
pub(crate) fn hex_id(n: u64, salt: u64) -> String {
    let part = |i: u64| format!("{:016x}", splitmix((n.wrapping_mul(4) + i) ^ salt));
    (0..4).map(part).collect()
}

/// A synthetic container. `status` is the daemon's word: created, running, paused,
/// restarting or exited. Counters are functions of the time spent running.
pub(crate) struct Container {
    pub(crate) serial: u64,
    pub(crate) hash: u64,
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) image: &'static str,
    pub(crate) project: Option<String>,
    pub(crate) service: &'static str,
    pub(crate) created: SystemTime,
    pub(crate) status: &'static str,
    pub(crate) exit_code: i64,
    pub(crate) oom_killed: bool,
    pub(crate) started_at: Option<SystemTime>,
    pub(crate) finished_at: Option<SystemTime>,
    pub(crate) health: Option<&'static str>,
    pub(crate) restart_count: u64,
    pub(crate) mem_limit: u64,
    pub(crate) nano_cpus: u64,
    pub(crate) pids_limit: Option<u64>,
    pub(crate) cpu_rate: f64,
    /// Time spent running before `running_since`.
    pub(crate) busy_before: Duration,
    pub(crate) running_since: Option<Instant>,
}

impl Container {
    pub(crate) fn active_secs(&self, at: Instant) -> f64 {
        let running = self.running_since.map(|s| at.saturating_duration_since(s));
        (self.busy_before + running.unwrap_or_default()).as_secs_f64()
    }

    pub(crate) fn freeze(&mut self, now: Instant) {
        if let Some(since) = self.running_since.take() {
            self.busy_before += now.saturating_duration_since(since);
        }
    }

    /// Listed with `all=false`, and has live stats.
    pub(crate) fn is_up(&self) -> bool {
        matches!(self.status, "running" | "paused" | "restarting")
    }

    pub(crate) fn labels(&self) -> Attrs {
        let title = self.image.split(':').next().unwrap_or_default();
        let mut l = Attrs::from([("org.opencontainers.image.title".into(), title.into())]);
        if let Some(p) = &self.project {
            let compose = [
                ("project", p.as_str()),
                ("service", self.service),
                ("container-number", "1"),
                ("oneoff", "False"),
                ("version", "2.24.6"),
                ("project.working_dir", "/srv/compose"),
            ];
            l.extend(compose.map(|(k, v)| (format!("com.docker.compose.{k}"), v.to_string())));
        }
        l
    }

    pub(crate) fn network(&self) -> String {
        self.project
            .as_ref()
            .map_or("bridge".into(), |p| format!("{p}_default"))
    }

    /// The list's human `Status`, as in Docker's `State.String()`.
    pub(crate) fn status_text(&self, now: SystemTime) -> String {
        let ago = |t: Option<SystemTime>| {
            human_duration(
                t.and_then(|t| now.duration_since(t).ok())
                    .unwrap_or_default(),
            )
        };
        let (code, up, down) = (self.exit_code, ago(self.started_at), ago(self.finished_at));
        let health = match self.health {
            Some("starting") => " (health: starting)".to_string(),
            Some(h) => format!(" ({h})"),
            None => String::new(),
        };
        match self.status {
            "created" => "Created".into(),
            "paused" => format!("Up {up} (Paused)"),
            "restarting" => format!("Restarting ({code}) {down} ago"),
            "exited" => format!("Exited ({code}) {down} ago"),
            _ => format!("Up {up}{health}"),
        }
    }
}

pub(crate) struct World {
    pub(crate) ncpu: u32,
    pub(crate) cgroup: u8,
    pub(crate) start: Instant,
    pub(crate) seed: u64,
    pub(crate) rng: u64,
    pub(crate) next_serial: u64,
    pub(crate) containers: BTreeMap<u64, Container>,
    pub(crate) by_id: HashMap<String, u64>,
    pub(crate) by_name: HashMap<String, u64>,
    /// Containers to start again after a generated `die`.
    pub(crate) restarts: Vec<(Instant, u64)>,
}

impl World {
    pub(crate) fn new(args: &Args) -> Self {
        let mut w = Self {
            ncpu: args.ncpu.max(1),
            cgroup: args.cgroup_version,
            start: Instant::now(),
            seed: args.seed,
            rng: splitmix(args.seed) | 1,
            next_serial: 0,
            containers: BTreeMap::new(),
            by_id: HashMap::new(),
            by_name: HashMap::new(),
            restarts: Vec::new(),
        };
        for _ in 0..args.containers {
            w.create(None, true);
        }
        w
    }

    pub(crate) fn rand(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    /// Creates a container: `initial` ones get the deterministic mix of states and
    /// ages; later ones are fresh (`created`, to be started).
    pub(crate) fn create(&mut self, name: Option<String>, initial: bool) -> u64 {
        let serial = self.next_serial;
        self.next_serial += 1;
        let h = splitmix(serial ^ self.seed);
        let (now, now_i) = (SystemTime::now(), Instant::now());
        // 75% running, 10% exited, 5% paused, 2.5% restarting, 2.5% created.
        let status = match serial % 20 {
            _ if !initial => "created",
            15 | 16 => "exited",
            17 => "paused",
            18 if serial % 40 == 18 => "restarting",
            18 => "created",
            _ => "running",
        };
        let age = Duration::from_secs(3600 + h % (9 * 86400));
        let created = if initial { now - age } else { now };
        let started_at = (status != "created").then(|| created + Duration::from_secs(2));
        let finished_at = matches!(status, "exited" | "restarting")
            .then(|| now - Duration::from_secs((h >> 16) % 3500));
        let oom_killed = status == "exited" && serial % 40 == 16;
        let exit_code = match status {
            _ if oom_killed => 137,
            "exited" | "restarting" => [0, 1, 2, 137, 143][(h >> 8) as usize % 5],
            _ => 0,
        };
        let health = (serial % 3 == 0).then_some(match status {
            "running" if serial % 30 == 21 => "unhealthy",
            "running" | "paused" => "healthy",
            "created" => "starting",
            _ => "unhealthy",
        });
        let nano_cpus = if serial % 5 == 0 {
            500_000_000 * (1 + h % 4)
        } else {
            0
        };
        let max_rate = if nano_cpus > 0 {
            nano_cpus as f64 / 1e9
        } else {
            f64::MAX
        };
        let until = if matches!(status, "running" | "paused") {
            Some(now)
        } else {
            finished_at
        };
        let busy = started_at
            .zip(until)
            .and_then(|(s, u)| u.duration_since(s).ok());
        let c = Container {
            serial,
            hash: h,
            id: hex_id(serial, self.seed),
            name: name.unwrap_or_else(|| format!("sim-{serial:05}")),
            image: IMAGES[h as usize % IMAGES.len()],
            project: (serial % 10 != 9).then(|| format!("proj{:02}", serial / 25 % 40)),
            service: SERVICES[serial as usize % SERVICES.len()],
            created,
            status,
            exit_code,
            oom_killed,
            started_at,
            finished_at,
            health,
            restart_count: if status == "restarting" { 3 + h % 5 } else { 0 },
            mem_limit: if serial % 4 == 0 {
                256 << (20 + h % 3)
            } else {
                0
            },
            nano_cpus,
            pids_limit: (serial % 7 == 0).then(|| 100 + h % 400),
            cpu_rate: (0.005 + ((h >> 20) % 1000) as f64 / 2000.0).min(max_rate),
            busy_before: busy.unwrap_or_default(),
            running_since: (status == "running").then_some(now_i),
        };
        self.by_id.insert(c.id.clone(), serial);
        self.by_name.insert(c.name.clone(), serial);
        self.containers.insert(serial, c);
        serial
    }

    /// Resolves an id, a name or a unique id prefix.
    pub(crate) fn lookup(&self, key: &str) -> Option<u64> {
        let key = key.trim_start_matches('/');
        if let Some(s) = self.by_id.get(key).or_else(|| self.by_name.get(key)) {
            return Some(*s);
        }
        let mut hits = self
            .by_id
            .iter()
            .filter(|(id, _)| !key.is_empty() && id.starts_with(key));
        hits.next()
            .filter(|_| hits.next().is_none())
            .map(|(_, s)| *s)
    }

    pub(crate) fn get(&self, key: &str) -> Option<&Container> {
        self.containers.get(&self.lookup(key)?)
    }

    /// A random container matching `pred` (a few tries, then the first match).
    pub(crate) fn pick(&mut self, pred: impl Fn(&Container) -> bool) -> Option<u64> {
        for _ in 0..8 {
            let r = self.rand() % self.next_serial.max(1);
            let mut at_or_after = self.containers.range(r..).chain(&self.containers);
            if let Some((s, _)) = at_or_after.next().filter(|(_, c)| pred(c)) {
                return Some(*s);
            }
        }
        self.containers.values().find(|c| pred(c)).map(|c| c.serial)
    }

    /// Builds the event for `action` on a container and applies its state change.
    pub(crate) fn act(&mut self, serial: u64, action: &str, extra: Attrs) -> Option<Event> {
        let now = Instant::now();
        let c = self.containers.get_mut(&serial)?;
        let mut attrs = c.labels();
        attrs.insert("name".into(), c.name.clone());
        attrs.extend(extra);
        let exit_code = attrs.get("exitCode").and_then(|e| e.parse().ok());
        let ev = container_event(&c.id, c.image, attrs, action);
        let (base, detail) = action.split_once(':').unwrap_or((action, ""));
        match base {
            "start" | "restart" | "unpause" => {
                if base != "unpause" || c.started_at.is_none() {
                    c.started_at = Some(SystemTime::now());
                    c.oom_killed = false;
                    c.health = c.health.map(|_| "starting");
                }
                c.restart_count += u64::from(base == "restart");
                c.status = "running";
                c.running_since.get_or_insert(now);
            }
            "die" | "pause" => {
                c.freeze(now);
                if base == "die" {
                    (c.status, c.exit_code) = ("exited", exit_code.unwrap_or(0));
                    c.finished_at = Some(SystemTime::now());
                } else {
                    c.status = "paused";
                }
            }
            "oom" => c.oom_killed = true,
            "health_status" => {
                c.health = Some(match detail.trim() {
                    "healthy" => "healthy",
                    "unhealthy" => "unhealthy",
                    _ => "starting",
                })
            }
            "destroy" => {
                let c = self.containers.remove(&serial)?;
                self.by_id.remove(&c.id);
                self.by_name.remove(&c.name);
            }
            _ => {}
        }
        Some(ev)
    }

    /// One second of `--churn-per-sec`: remove `r` containers, create and start `r`.
    pub(crate) fn churn(&mut self, r: u32, out: &mut Vec<Event>) {
        let attr = |k: &str, v: &str| Attrs::from([(k.to_string(), v.to_string())]);
        for _ in 0..r {
            let Some(s) = self.pick(|_| true) else { break };
            if self.containers[&s].is_up() {
                out.extend(self.act(s, "kill", attr("signal", "9")));
                out.extend(self.act(s, "die", attr("exitCode", "137")));
            }
            out.extend(self.act(s, "destroy", Attrs::new()));
        }
        for _ in 0..r {
            let s = self.create(None, false);
            out.extend(self.act(s, "create", Attrs::new()));
            out.extend(self.act(s, "start", Attrs::new()));
        }
    }

    /// Some `--event-rate` activity (a health check, or now and then a die that is
    /// followed by a start 2 s later); returns how many events it produced.
    pub(crate) fn activity(&mut self, out: &mut Vec<Event>) -> usize {
        let Some(s) = self.pick(|c| c.status == "running") else {
            return 0;
        };
        let mut attrs = Attrs::new();
        if self.rand() % 100 < 3 {
            let code = [0, 1, 137, 143][(self.rand() % 4) as usize];
            attrs.insert("exitCode".into(), code.to_string());
            out.extend(self.act(s, "die", attrs));
            self.restarts
                .push((Instant::now() + Duration::from_secs(2), s));
            return 1;
        }
        attrs.insert("execID".into(), hex_id(self.rand(), 7));
        out.extend(self.act(s, "exec_create: /bin/sh -c true", attrs.clone()));
        out.extend(self.act(s, "exec_start: /bin/sh -c true", attrs.clone()));
        attrs.insert("exitCode".into(), "0".into());
        out.extend(self.act(s, "exec_die", attrs));
        if self.containers[&s].health.is_none() {
            return 3;
        }
        out.extend(self.act(s, "health_status: healthy", Attrs::new()));
        4
    }

    pub(crate) fn restart_due(&mut self, now: Instant, out: &mut Vec<Event>) {
        let (due, keep) = std::mem::take(&mut self.restarts)
            .into_iter()
            .partition(|(t, _)| *t <= now);
        self.restarts = keep;
        for (_, s) in due {
            if self
                .containers
                .get(&s)
                .is_some_and(|c| c.status == "exited")
            {
                out.extend(self.act(s, "start", Attrs::new()));
            }
        }
    }

    pub(crate) fn endpoint_settings(&self, c: &Container) -> Value {
        let up = c.running_since.is_some() || c.status == "paused";
        let s = c.serial;
        let ip = format!(
            "172.{}.{}.{}",
            18 + s / 65_000 % 10,
            s / 250 % 256,
            s % 250 + 2
        );
        json!({
            "IPAMConfig": null, "Links": null, "Aliases": null, "NetworkID": hex_id(s / 25, 0x2222),
            "EndpointID": if up { hex_id(s, 0x3333) } else { String::new() },
            "Gateway": if up { "172.18.0.1" } else { "" }, "IPAddress": if up { ip } else { String::new() },
            "IPPrefixLen": if up { 16 } else { 0 }, "IPv6Gateway": "", "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0, "MacAddress": "", "DriverOpts": null,
        })
    }

    pub(crate) fn list_entry(&self, c: &Container, now: SystemTime) -> Value {
        let (net, image_id) = (
            c.network(),
            format!("sha256:{}", hex_id(c.hash % 6, 0x1111)),
        );
        json!({
            "Id": c.id, "Names": [format!("/{}", c.name)], "Image": c.image, "ImageID": image_id,
            "Command": "/docker-entrypoint.sh", "Created": unix_nanos(c.created) / 1_000_000_000,
            "Ports": [], "Labels": c.labels(), "State": c.status, "Status": c.status_text(now),
            "HostConfig": {"NetworkMode": if c.project.is_some() { net.as_str() } else { "default" }},
            "NetworkSettings": {"Networks": {net.as_str(): self.endpoint_settings(c)}},
            "Mounts": [],
        })
    }

    pub(crate) fn inspect(&self, c: &Container) -> Value {
        let (running, unhealthy) = (c.is_up(), c.health == Some("unhealthy"));
        let t = |t: Option<SystemTime>| t.map_or(ZERO_TIME.to_string(), rfc3339);
        let mut state = json!({
            "Status": c.status, "Running": running, "Paused": c.status == "paused",
            "Restarting": c.status == "restarting", "OOMKilled": c.oom_killed, "Dead": false,
            "Pid": if running { 10_000 + c.serial } else { 0 }, "ExitCode": c.exit_code, "Error": "",
            "StartedAt": t(c.started_at), "FinishedAt": t(c.finished_at),
        });
        let mut config = json!({
            "Hostname": &c.id[..12], "Domainname": "", "User": "", "AttachStdin": false, "AttachStdout": false,
            "AttachStderr": false, "Tty": false, "OpenStdin": false, "StdinOnce": false,
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["/docker-entrypoint.sh"], "Image": c.image, "Volumes": null, "WorkingDir": "",
            "Entrypoint": null, "OnBuild": null, "Labels": c.labels(),
        });
        if let Some(h) = c.health {
            let ago = |s: u64| rfc3339(SystemTime::now() - Duration::from_secs(s));
            state["Health"] = json!({"Status": h, "FailingStreak": if unhealthy { 3 } else { 0 }, "Log": [
                {"Start": ago(5), "End": ago(4), "ExitCode": i32::from(unhealthy), "Output": ""},
            ]});
            config["Healthcheck"] =
                json!({"Test": ["CMD-SHELL", "true"], "Interval": 30_000_000_000u64});
        }
        let (dir, net) = (format!("/var/lib/docker/containers/{}", c.id), c.network());
        let sandbox = hex_id(c.serial, 0x4444);
        json!({
            "Id": c.id, "Created": rfc3339(c.created), "Path": "/docker-entrypoint.sh", "Args": [],
            "State": state, "Image": format!("sha256:{}", hex_id(c.hash % 6, 0x1111)),
            "ResolvConfPath": format!("{dir}/resolv.conf"), "HostnamePath": format!("{dir}/hostname"),
            "HostsPath": format!("{dir}/hosts"), "LogPath": format!("{dir}/{}-json.log", c.id),
            "Name": format!("/{}", c.name), "RestartCount": c.restart_count, "Driver": "overlay2",
            "Platform": "linux", "MountLabel": "", "ProcessLabel": "", "AppArmorProfile": "", "ExecIDs": null,
            "HostConfig": {
                "Binds": null, "ContainerIDFile": "", "LogConfig": {"Type": "json-file", "Config": {}},
                "NetworkMode": if c.project.is_some() { net.as_str() } else { "default" },
                "RestartPolicy": {"Name": if c.project.is_some() { "unless-stopped" } else { "no" }, "MaximumRetryCount": 0},
                "AutoRemove": false, "CgroupnsMode": if self.cgroup == 2 { "private" } else { "host" },
                "IpcMode": "private", "Privileged": false, "ReadonlyRootfs": false, "ShmSize": 67_108_864,
                "Runtime": "runc", "Isolation": "", "CpuShares": 0, "Memory": c.mem_limit, "NanoCpus": c.nano_cpus,
                "CgroupParent": "", "CpuPeriod": 0, "CpuQuota": 0, "CpusetCpus": "", "CpusetMems": "",
                "MemoryReservation": 0, "MemorySwap": c.mem_limit * 2, "MemorySwappiness": null,
                "OomKillDisable": false, "PidsLimit": c.pids_limit, "Ulimits": [],
            },
            "GraphDriver": {"Data": null, "Name": "overlay2"},
            "Mounts": [], "Config": config,
            "NetworkSettings": {
                "Bridge": "", "SandboxID": sandbox, "Ports": {},
                "SandboxKey": format!("/var/run/docker/netns/{}", &sandbox[..12]),
                "Networks": {net.as_str(): self.endpoint_settings(c)},
            },
        })
    }

    /// `GET /system/df`: each image's size is fixed by its place in [`IMAGES`],
    /// each container's writable layer by its hash; one volume per compose
    /// project, referenced by its containers; no build cache.
    pub(crate) fn system_df(&self) -> Value {
        let image_size = |i: usize| 5_000_000 + i as i64 * 20_000_000;
        let mut used = vec![0i64; IMAGES.len()];
        let mut projects: BTreeMap<&str, i64> = BTreeMap::new();
        let containers: Vec<Value> = self
            .containers
            .values()
            .map(|c| {
                let i = IMAGES.iter().position(|im| *im == c.image).unwrap_or(0);
                used[i] += 1;
                if let Some(p) = &c.project {
                    *projects.entry(p.as_str()).or_default() += 1;
                }
                let rw = (c.hash % 50_000_000) as i64;
                let mut v = json!({
                    "Id": c.id, "Names": [format!("/{}", c.name)], "Image": c.image,
                    "State": c.status, "SizeRootFs": rw + image_size(i),
                });
                if rw > 0 {
                    v["SizeRw"] = rw.into(); // the engine leaves a 0 out
                }
                v
            })
            .collect();
        let images: Vec<Value> = IMAGES
            .iter()
            .enumerate()
            .map(|(i, name)| {
                json!({
                    "Id": format!("sha256:{}", hex_id(i as u64, 7)), "RepoTags": [name],
                    "Size": image_size(i), "VirtualSize": image_size(i),
                    "SharedSize": 2_000_000, "Containers": used[i],
                })
            })
            .collect();
        let layers: i64 = (0..IMAGES.len()).map(|i| image_size(i) - 2_000_000).sum();
        let volumes: Vec<Value> = projects
            .iter()
            .enumerate()
            .map(|(i, (p, refs))| {
                json!({
                    "Name": format!("{p}_data"), "Driver": "local", "Scope": "local",
                    "Mountpoint": format!("/var/lib/docker/volumes/{p}_data/_data"),
                    "UsageData": {"Size": 1_000_000 * (i as i64 + 1), "RefCount": refs},
                })
            })
            .collect();
        json!({
            "LayersSize": layers + 2_000_000, "Images": images, "Containers": containers,
            "Volumes": volumes, "BuildCache": [], "BuilderSize": 0,
        })
    }

    pub(crate) fn info(&self, sim: &Sim) -> Value {
        let count = |s: &[&str]| {
            self.containers
                .values()
                .filter(|c| s.contains(&c.status))
                .count()
        };
        let (all, running, paused) = (
            self.containers.len(),
            count(&["running", "restarting"]),
            count(&["paused"]),
        );
        let (listeners, v2) = (sim.events.tx.receiver_count(), self.cgroup == 2);
        json!({
            "ID": "SIM0:D0CK:ERSI:MULA:TED0:ENGI:NE00:0000:0000:0000:0000:0000",
            "Containers": all, "ContainersRunning": running, "ContainersPaused": paused,
            "ContainersStopped": all - running - paused, "Images": IMAGES.len(), "Driver": "overlay2",
            "MemoryLimit": true, "SwapLimit": true, "CpuCfsPeriod": true, "CpuCfsQuota": true, "CPUShares": true,
            "CPUSet": true, "PidsLimit": true, "OomKillDisable": !v2, "IPv4Forwarding": true, "Debug": false,
            "NFd": 40 + listeners, "NGoroutines": 50 + 3 * listeners, "SystemTime": rfc3339(SystemTime::now()),
            "LoggingDriver": "json-file", "CgroupDriver": if v2 { "systemd" } else { "cgroupfs" },
            "CgroupVersion": if v2 { "2" } else { "1" }, "NEventsListener": listeners,
            "KernelVersion": "6.1.0-18-amd64", "OperatingSystem": "Debian GNU/Linux 12 (bookworm)",
            "OSVersion": "12", "OSType": "linux", "Architecture": "x86_64", "NCPU": self.ncpu, "MemTotal": MEM_TOTAL,
            "DockerRootDir": "/var/lib/docker", "Name": "docker-sim", "Labels": [], "ExperimentalBuild": false,
            "ServerVersion": sim.engine_version, "DefaultRuntime": "runc", "LiveRestoreEnabled": false,
            "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false,
                "Error": "", "RemoteManagers": null},
            "SecurityOptions": ["name=seccomp,profile=builtin"], "Warnings": null,
        })
    }
}

/// The `--churn-per-sec` / `--event-rate` driver (synthetic mode), ten ticks a second.
pub(crate) async fn drive(sim: Arc<Sim>) {
    let Data::Synthetic(world) = &sim.data else {
        return;
    };
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut n, mut budget) = (0u64, 0.0f64);
    loop {
        tick.tick().await;
        n += 1;
        let mut out = Vec::new();
        {
            let mut w = world.write().unwrap();
            w.restart_due(Instant::now(), &mut out);
            let churn = sim.churn_per_sec.load(Relaxed);
            if churn > 0 && n % 10 == 0 {
                w.churn(u32::try_from(churn).unwrap_or(u32::MAX), &mut out);
            }
            budget += f64::from_bits(sim.event_rate.load(Relaxed)) / 10.0;
            while budget >= 1.0 {
                match w.activity(&mut out) {
                    0 => budget = 0.0,
                    k => budget -= k as f64,
                }
            }
        }
        for ev in out {
            sim.events.publish(ev);
        }
    }
}
