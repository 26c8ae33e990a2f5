//! Stats shapes of the synthetic world: cgroup v1 and v2, one-shot and
//! two-sample (`precpu_stats`), counters that grow with the time spent running.

use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};

use crate::clock::rfc3339;
use crate::world::{Container, World, MEM_TOTAL, ZERO_TIME};

/// Synthetic host uptime when the simulator starts (drives `system_cpu_usage`).
const BOOT_UPTIME_SECS: f64 = 30.0 * 86400.0;

impl World {
    pub(crate) fn cpu_stats(&self, c: &Container, at: Instant) -> Value {
        let active = c.active_secs(at);
        let total = (active * c.cpu_rate * 1e9) as u64;
        let ticks = total / 10_000_000; // user/kernel times have 10 ms resolution
        let mut usage = json!({
            "total_usage": total, "usage_in_kernelmode": ticks * 2_000_000, "usage_in_usermode": ticks * 8_000_000,
        });
        if self.cgroup == 1 {
            let weights: Vec<u64> = (0..u64::from(self.ncpu))
                .map(|i| 1 + (c.hash >> (i * 4 % 60)) % 16)
                .collect();
            let unit = total / weights.iter().sum::<u64>();
            let mut per: Vec<u64> = weights.iter().map(|w| unit * w).collect();
            per[0] += total - per.iter().sum::<u64>();
            usage["percpu_usage"] = json!(per);
        }
        let uptime = BOOT_UPTIME_SECS + at.saturating_duration_since(self.start).as_secs_f64();
        let periods = if c.nano_cpus > 0 {
            (active * 10.0) as u64
        } else {
            0
        };
        json!({
            "cpu_usage": usage, "system_cpu_usage": (uptime * f64::from(self.ncpu) * 1e9) as u64,
            "online_cpus": self.ncpu, "throttling_data": {
                "periods": periods, "throttled_periods": periods / 20, "throttled_time": periods / 20 * 3_000_000,
            },
        })
    }

    /// A stats body; `pre` is the interval to the precpu sample (None: one-shot).
    pub(crate) fn stats(&self, c: &Container, pre: Option<Duration>) -> Value {
        let zero_cpu = json!({
            "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
        });
        let (name, h) = (format!("/{}", c.name), c.hash);
        if c.running_since.is_none() && c.status != "paused" {
            // What the daemon answers for a container that is not running.
            return json!({
                "read": ZERO_TIME, "preread": ZERO_TIME, "pids_stats": {}, "num_procs": 0, "storage_stats": {},
                "blkio_stats": {"io_service_bytes_recursive": null, "io_serviced_recursive": null,
                    "io_queue_recursive": null, "io_service_time_recursive": null, "io_wait_time_recursive": null,
                    "io_merged_recursive": null, "io_time_recursive": null, "sectors_recursive": null},
                "cpu_stats": zero_cpu, "precpu_stats": zero_cpu, "memory_stats": {}, "name": name, "id": c.id,
            });
        }
        let (now, wall) = (Instant::now(), SystemTime::now());
        let a = c.active_secs(now);
        let limit = if c.mem_limit > 0 {
            c.mem_limit
        } else {
            MEM_TOTAL
        };
        let wobble = ((a as u64 / 10) % 16) * (64 << 10);
        let usage = ((8 << 20) + h % (200 << 20) + wobble).min(limit / 10 * 9);
        let (file, anon, pgfault) = (usage / 4, usage - usage / 4, (a * 50.0) as u64 + h % 10_000);
        let memory_stats = if self.cgroup == 1 {
            let mut s = json!({
                "active_anon": anon / 2, "active_file": file / 2, "cache": file, "dirty": 0,
                "inactive_anon": anon - anon / 2, "inactive_file": file - file / 2, "mapped_file": file / 8,
                "pgfault": pgfault, "pgmajfault": pgfault / 1000, "pgpgin": pgfault / 2, "pgpgout": pgfault / 3,
                "rss": anon, "rss_huge": 0, "unevictable": 0, "writeback": 0,
            });
            let map = s.as_object_mut().expect("an object");
            let totals: Vec<(String, Value)> = map
                .iter()
                .map(|(k, v)| (format!("total_{k}"), v.clone()))
                .collect();
            map.extend(totals);
            map.insert("hierarchical_memory_limit".into(), json!(limit));
            map.insert(
                "hierarchical_memsw_limit".into(),
                json!(limit.saturating_mul(2)),
            );
            json!({"usage": usage, "max_usage": usage + usage / 8, "stats": s, "limit": limit})
        } else {
            json!({"usage": usage, "limit": limit, "stats": {
                "active_anon": anon / 2, "active_file": file / 2, "anon": anon, "anon_thp": 0, "file": file,
                "file_dirty": 0, "file_mapped": file / 8, "file_writeback": 0, "inactive_anon": anon - anon / 2,
                "inactive_file": file - file / 2, "kernel_stack": 16_384, "pgactivate": pgfault / 40,
                "pgdeactivate": 0, "pgfault": pgfault, "pglazyfree": 0, "pglazyfreed": 0,
                "pgmajfault": pgfault / 1000, "pgrefill": 0, "pgscan": 0, "pgsteal": 0, "shmem": 0,
                "slab": usage / 50, "slab_reclaimable": usage / 100, "slab_unreclaimable": usage / 100,
                "sock": 0, "thp_collapse_alloc": 0, "thp_fault_alloc": 0, "unevictable": 0,
                "workingset_activate": 0, "workingset_nodereclaim": 0, "workingset_refault": 0,
            }})
        };
        let (rd, wr) = (
            (a * (4096 * (h % 8)) as f64) as u64,
            (a * (4096 * (h >> 3 & 15)) as f64) as u64,
        );
        let e = |op: &str, v: u64| json!({"major": 8, "minor": 0, "op": op, "value": v});
        let blkio_stats = if self.cgroup == 1 {
            let ops = |r, w| {
                json!([
                    e("Read", r),
                    e("Write", w),
                    e("Sync", w),
                    e("Async", r),
                    e("Discard", 0),
                    e("Total", r + w)
                ])
            };
            json!({
                "io_service_bytes_recursive": ops(rd, wr), "io_serviced_recursive": ops(rd / 4096, wr / 4096),
                "io_queue_recursive": [], "io_service_time_recursive": [], "io_wait_time_recursive": [],
                "io_merged_recursive": [], "io_time_recursive": [], "sectors_recursive": [],
            })
        } else {
            json!({
                "io_service_bytes_recursive": [e("read", rd), e("write", wr)], "io_serviced_recursive": null,
                "io_queue_recursive": null, "io_service_time_recursive": null, "io_wait_time_recursive": null,
                "io_merged_recursive": null, "io_time_recursive": null, "sectors_recursive": null,
            })
        };
        let rx = (a * (100 + h % 50_000) as f64) as u64;
        let mut pids = json!({"current": 1 + h % 20});
        if let Some(l) = c.pids_limit {
            pids["limit"] = json!(l);
        }
        let precpu = pre
            .and_then(|d| now.checked_sub(d))
            .map_or(zero_cpu, |t| self.cpu_stats(c, t));
        json!({
            "read": rfc3339(wall), "preread": pre.map_or(ZERO_TIME.to_string(), |d| rfc3339(wall - d)),
            "pids_stats": pids, "blkio_stats": blkio_stats, "num_procs": 0, "storage_stats": {},
            "cpu_stats": self.cpu_stats(c, now), "precpu_stats": precpu,
            "memory_stats": memory_stats, "name": name, "id": c.id,
            "networks": {"eth0": {
                "rx_bytes": rx, "rx_packets": rx / 800, "rx_errors": 0, "rx_dropped": rx / 10_000_000,
                "tx_bytes": rx / 2, "tx_packets": rx / 1200, "tx_errors": 0, "tx_dropped": 0,
            }},
        })
    }
}
